"""Evaluates a trained model:  python -m hse_tf.evaluate --checkpoint runs/demo_hse

Paragraph<->video and clip<->sentence retrieval over the whole split, the incomplete-observation
curve (Fig. 4) and uniform proposals (Table 4). Prints tables; writes everything as JSON (--out).
"""

import os

from absl import app, flags, logging

FLAGS = flags.FLAGS


def define_flags():
    """Defined only when run as a program, so importing this module beside train.py is safe."""
    from hse_tf.data.options import EVAL_BATCH_SIZE, INCOMPLETE_MAX_K, PROPOSAL_COUNTS
    flags.DEFINE_string("checkpoint", None, "Run folder (latest checkpoint) or a ckpt-EEEE folder.")
    flags.DEFINE_string("annotations", None, "Split to evaluate (default: the run's validation).")
    flags.DEFINE_string("features", None, "Feature file (default: the run's).")
    flags.DEFINE_integer("incomplete_max_k", INCOMPLETE_MAX_K,
                         "Incomplete observation for k = 1..K (0: skip).")
    flags.DEFINE_list("proposals", [str(k) for k in PROPOSAL_COUNTS],
                      "Uniform proposal counts K (empty: skip).")
    flags.DEFINE_integer("batch_size", EVAL_BATCH_SIZE, "Videos per batch.")
    flags.DEFINE_string("out", None, "JSON output (default: CHECKPOINT/eval.json).")
    flags.mark_flag_as_required("checkpoint")


def run(checkpoint, annotations=None, features=None, incomplete_max_k=None, proposals=None,
        batch_size=None, out=None):
    """Evaluates a run; None: the evaluators' defaults (INCOMPLETE_MAX_K, PROPOSAL_COUNTS,
    EVAL_BATCH_SIZE)."""
    from hse_tf.data.errors import IssueLog
    from hse_tf.data.outputs import EVALUATION, claim_file, write_json
    from hse_tf.evaluation import EVALUATORS, embed_fn, tables
    from hse_tf.data.options import EVAL_BATCH_SIZE, INCOMPLETE_MAX_K, PROPOSAL_COUNTS
    from hse_tf.training import runs
    incomplete_max_k = INCOMPLETE_MAX_K if incomplete_max_k is None else incomplete_max_k
    proposals = PROPOSAL_COUNTS if proposals is None else proposals
    batch_size = batch_size or EVAL_BATCH_SIZE

    cfg, vocab, model, ckpt = runs.load_run(checkpoint)
    out = out or os.path.join(ckpt, "eval.json")
    claim_file(out, EVALUATION)  # before the work, not after
    if annotations:
        cfg["val_annotations"] = annotations
    if features:
        cfg["features"] = features
    if not cfg.get("val_annotations"):
        raise app.UsageError("the run has no validation split: pass --annotations")
    issues = IssueLog(cfg.get("on_bad_input", "error"))
    split = runs.make_split(cfg, "val", vocab, issues)
    fn = embed_fn(model, cfg["feature_dim"])
    hierarchical = cfg.get("model", "hse") == "hse"
    evaluators = {"retrieval": EVALUATORS["retrieval"](batch_size)}
    if incomplete_max_k and hierarchical:
        evaluators["incomplete_observation"] = EVALUATORS["incomplete_observation"](
            incomplete_max_k, batch_size)
    if proposals and hierarchical:
        evaluators["uniform_proposals"] = EVALUATORS["uniform_proposals"](
            [int(k) for k in proposals], batch_size)
    printers = {"retrieval": lambda r: tables.format_table(r, f"{len(split)} videos, {ckpt}"),
                "incomplete_observation": tables.incomplete_table,
                "uniform_proposals": tables.proposals_table}
    results = {"checkpoint": ckpt, "annotations": cfg["val_annotations"], "videos": len(split)}
    for i, (name, evaluator) in enumerate(evaluators.items()):
        results[name] = dict(evaluator.run(model, split, fn))
        print(("\n" if i else "") + printers[name](results[name]))
    if issues.counts:
        results["input_problems"] = dict(issues.counts)
        logging.warning("input problems: %s", issues.summary())
    write_json(out, EVALUATION, results)
    print(f"\nwrote {out}")
    return results


def main(argv):
    del argv
    run(FLAGS.checkpoint, FLAGS.annotations, FLAGS.features, FLAGS.incomplete_max_k,
        [k for k in FLAGS.proposals if k], FLAGS.batch_size, FLAGS.out)


if __name__ == "__main__":
    from hse_tf import cli
    define_flags()
    cli.run_absl(main)
