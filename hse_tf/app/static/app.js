// hse_tf search page: calls the JSON API and builds every element with textContent, never
// innerHTML, so ids, file names and sentences always render as text.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
let summary = { thumbnails: true, text_index: false, limits: { max_chars: 1000 } };

function fmt(t) {
  return typeof t === "number" ? t.toFixed(1) : "?";
}

function momentLabel(m) {
  return "clip " + (m.clip + 1) + (m.start !== undefined ? ", " + fmt(m.start) + "-" + fmt(m.end) + " s" : "");
}

function setStatus(text, isError) {
  const status = $("#status");
  status.textContent = text;
  status.classList.toggle("error", !!isError);
}

// Plays `moment` of the card's video: from its start, pausing at its end.
function play(card, result, moment) {
  const player = $(".player", card);
  player.hidden = false;
  const seek = () => {
    player.currentTime = moment.start || 0;
  };
  player.onseeked = () => {
    player.dataset.seeked = String(player.currentTime);
  };
  delete player.dataset.seeked;
  delete player.dataset.stopped;
  const end = moment.end;
  player.ontimeupdate = () => {
    if (end !== undefined && player.dataset.seeked !== undefined && player.currentTime >= end) {
      player.pause();
      player.ontimeupdate = null;
      player.dataset.stopped = String(player.currentTime);
    }
  };
  if (player.getAttribute("src") !== result.media) {
    player.setAttribute("src", result.media);
    player.addEventListener("loadedmetadata", seek, { once: true });
  } else {
    seek();
  }
  player.play().catch(() => {}); // autoplay rules may refuse; the seek stands either way
}

function timeline(card, result) {
  const bar = $(".timeline", card);
  const clips = result.clips || [];
  const end = Math.max(0, ...clips.map((c) => (c.end !== undefined ? c.end : c.end_frame + 1)));
  const hits = new Map();  // clip -> the numbers of the sentences that match it best
  (result.moments || []).forEach((m) => hits.set(m.clip, (hits.get(m.clip) || []).concat([m.sentence + 1])));
  clips.forEach((c) => {
    const s = c.start !== undefined ? c.start : c.start_frame;
    const e = c.end !== undefined ? c.end : c.end_frame + 1;
    // A clip with times, of a video the page can play, is a button that plays it.
    const playable = result.media && c.start !== undefined;
    const div = document.createElement(playable ? "button" : "div");
    if (playable) {
      div.type = "button";
      div.addEventListener("click", () => play(card, result, { clip: c.clip, start: c.start, end: c.end }));
    }
    div.className = "clip" + (hits.has(c.clip) ? " hit" : "");
    div.style.left = (100 * s) / (end || 1) + "%";
    div.style.width = (100 * (e - s)) / (end || 1) + "%";
    div.title = momentLabel({ clip: c.clip, start: c.start, end: c.end });
    if (hits.has(c.clip) && (result.moments || []).length > 1) div.textContent = hits.get(c.clip).join(" ");
    bar.appendChild(div);
  });
}

function moments(card, result, multi) {
  const list = $(".moments", card);
  (result.moments || []).forEach((m) => {
    const li = document.createElement("li");
    if (multi) {
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = "\u201c" + m.text + "\u201d \u2192 ";
      li.appendChild(text);
    }
    const label = momentLabel(m) + " (" + m.score.toFixed(3) + ")";
    if (result.media && m.start !== undefined) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "moment";
      button.dataset.start = String(m.start);
      if (m.end !== undefined) button.dataset.end = String(m.end);
      button.textContent = label;
      button.addEventListener("click", () => play(card, result, m));
      li.appendChild(button);
    } else {
      li.appendChild(document.createTextNode(label));
    }
    list.appendChild(li);
  });
}

async function similar(card, videoId) {
  const list = $(".paragraphs", card);
  list.textContent = "";
  const data = await api("/api/similar?" + new URLSearchParams({ video: videoId, k: "3" }));
  if (!data) return;
  data.results.forEach((r) => {
    const li = document.createElement("li");
    li.textContent = r.id + ": " + (r.first_sentence || "") + " (" + r.score.toFixed(3) + ")";
    list.appendChild(li);
  });
}

function render(data) {
  const main = $("#results");
  main.textContent = "";
  const multi = data.sentences.length > 1;
  data.results.forEach((r) => {
    const card = $("#card").content.firstElementChild.cloneNode(true);
    const videoId = data.level === "video" ? r.id : r.video;
    card.dataset.video = videoId;
    $(".rank", card).textContent = "#" + r.rank;
    $(".vid", card).textContent = videoId;
    $(".score", card).textContent = r.score.toFixed(3);
    const img = $(".thumb", card);
    if (r.thumbnail) {
      img.setAttribute("src", r.thumbnail);
      img.setAttribute("alt", "thumbnail of " + videoId);
      if (r.media) {  // the thumbnail plays the best moment (or the video from its start)
        const first = (r.moments || []).find((m) => m.start !== undefined) || { clip: 0, start: 0 };
        img.classList.add("playable");
        img.tabIndex = 0;
        img.setAttribute("role", "button");
        img.setAttribute("aria-label", "play " + videoId);
        img.addEventListener("click", () => play(card, r, first));
        img.addEventListener("keydown", (e) => {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); play(card, r, first); }
        });
      }
    } else {
      img.remove();
    }
    if (!r.thumbnail && !r.media) $(".media", card).remove();  // nothing to show: no column
    timeline(card, r);
    moments(card, r, multi);
    if (summary.text_index) {
      const button = $(".similar", card);
      button.hidden = false;
      button.addEventListener("click", () => similar(card, videoId));
    }
    main.appendChild(card);
  });
  const warn = data.warnings.length ? " \u2014 " + data.warnings.join("; ") : "";
  const ms = Object.values(data.timing_ms || {}).reduce((a, b) => a + b, 0);
  setStatus(plural(data.results.length, "result") + " for " + plural(data.sentences.length, "sentence") +
            " in " + Math.round(ms) + " ms" + warn);
}

function plural(n, word) {
  return n + " " + word + (n === 1 ? "" : "s");
}

async function api(url) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin" });
  } catch (e) {
    setStatus("the server did not answer: " + e, true);
    return null;
  }
  const data = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) {
    setStatus(data.error || "error " + response.status, true);
    return null;
  }
  return data;
}

// Runs the form's search; `push`: record it in the address bar (back button, sharing).
async function run(push) {
  const q = $("#q").value.trim();
  const max = summary.limits.max_chars;
  if (q.length > max) {  // said, never cut silently
    setStatus("The query is " + q.length + " characters long; the limit is " + max + ". Shorten it.", true);
    document.body.dataset.state = "done";
    return;
  }
  const params = new URLSearchParams({ q: q, k: $("#k").value, level: $("#level").value });
  if (push) history.pushState(null, "", "?" + params);
  setStatus("Searching\u2026");
  document.body.dataset.state = "searching";
  $("#results").setAttribute("aria-busy", "true");
  $("#search button").disabled = true;
  const data = await api("/api/search?" + params);
  if (data) render(data);
  else $("#results").textContent = "";
  $("#results").removeAttribute("aria-busy");
  $("#search button").disabled = false;
  document.body.dataset.state = "done";
}

async function search(event) {
  event.preventDefault();
  await run(true);
}

// The address bar's query (a shared link, the back button) fills the form and searches.
function fromAddress() {
  const params = new URLSearchParams(location.search);
  if (!params.get("q")) return false;
  $("#q").value = params.get("q");
  if (params.get("k")) $("#k").value = params.get("k");
  if (params.get("level")) $("#level").value = params.get("level");
  return true;
}

async function start() {
  $("#search").addEventListener("submit", search);
  window.addEventListener("popstate", () => {
    if (fromAddress()) run(false);
  });
  const health = await api("/healthz");
  if (health) {
    summary = { ...summary, ...health };
    const notice = $("#notice");
    if (!health.thumbnails) {
      notice.textContent = "This gallery has no thumbnails or video files: results are shown as text.";
      notice.hidden = false;
    }
    setStatus(health.videos + " videos, " + health.clips + " clips");
  }
  document.body.dataset.state = "ready";
  if (fromAddress()) await run(false);
}

start();
