"""Figures from a trained run: t-SNE of validation video embeddings coloured by class (Fig. 5)
and an HTML page of paragraph -> video retrieval examples (Figs. 7-10).

    python -m hse_tf.viz --checkpoint runs/demo_hse --labels data/demo/labels_val.csv

Figures go to RUN/figures/ unless --out names another folder.
"""

import os


def main(argv=None):
    from hse_tf import cli
    p = cli.argument_parser("hse_tf.viz", description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--annotations", help="default: the run's validation annotations")
    p.add_argument("--features", help="default: the run's feature file")
    p.add_argument("--labels", help="TSP CSV: colour the t-SNE by action class")
    p.add_argument("--out", help="output folder (default: RUN/figures)")
    p.add_argument("--max_points", type=int, default=1000)
    p.add_argument("--report_queries", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    args = cli.parse(p, argv)
    from hse_tf.cli import require_extra
    require_extra("viz", "sklearn", "matplotlib", what="python -m hse_tf.viz")
    from hse_tf.data.annotations import read_tsp_labels, video_labels
    from hse_tf.data.errors import IssueLog
    from hse_tf.evaluation import embed_split
    from hse_tf.training.runs import load_run, make_split
    from hse_tf.viz.figures import retrieval_report, tsne_png
    from hse_tf.viz.tsne import knn_accuracy, tsne
    cfg, vocab, model, _ckpt = load_run(args.checkpoint)
    if args.annotations:
        cfg = {**cfg, "val_annotations": args.annotations}
    if args.features:
        cfg = {**cfg, "features": args.features}
    split = make_split(cfg, "val", vocab, IssueLog(cfg.get("on_bad_input", "error")))
    emb = embed_split(model, split)
    ids = [split.video_ids[i] for i in emb["index"]]
    args.out = args.out or os.path.join(os.path.dirname(os.path.abspath(_ckpt)), "figures")
    os.makedirs(args.out, exist_ok=True)
    n = min(args.max_points, len(ids))
    labels = video_labels(read_tsp_labels(args.labels)) if args.labels else {}
    names = [labels.get(v, "unlabelled") for v in ids[:n]]
    points = tsne(emb["video"][:n], seed=args.seed)
    png = tsne_png(points, names, os.path.join(args.out, "tsne_video_embeddings.png"),
                   f"t-SNE of {n} validation video embeddings")
    if len(set(names)) > 1:
        # Does the map keep the classes? 5-NN accuracy in the map next to the embedding space.
        in_map = knn_accuracy(points, names)
        in_space = knn_accuracy(emb["video"][:n], names, metric="cosine")
        majority = max(names.count(c) for c in set(names)) / n
        print(f"class 5-NN accuracy: t-SNE map {100 * in_map:.1f}%, embedding space "
              f"{100 * in_space:.1f}% (majority class {100 * majority:.1f}%)")
    q = min(args.report_queries, len(ids))
    sims = emb["paragraph"][:q] @ emb["video"].T
    anns = [split.annotations[i] for i in emb["index"]]
    stats = retrieval_report([" ".join(a.sentences) for a in anns[:q]], ids, sims,
                             os.path.join(args.out, "retrieval_examples.html"),
                             first_sentences=[a.sentences[0] for a in anns])
    print(f"{png}\n{os.path.join(args.out, 'retrieval_examples.html')}: {stats}")
    return 0


if __name__ == "__main__":
    from hse_tf import cli
    cli.run_absl(main, parsed_by_main=True)
