// hse_tf search page: calls the JSON API and builds every element with textContent, never
// innerHTML, so ids, file names and sentences always render as text.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
let summary = { thumbnails: true, text_index: false };

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
    const div = document.createElement("div");
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
    } else {
      img.remove();
      $(".nothumb", card).hidden = false;
    }
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
  setStatus(data.results.length + " result(s) for " + data.sentences.length + " sentence(s)" + warn);
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

async function search(event) {
  event.preventDefault();
  const params = new URLSearchParams({ q: $("#q").value, k: $("#k").value, level: $("#level").value });
  setStatus("searching\u2026");
  document.body.dataset.state = "searching";
  const data = await api("/api/search?" + params);
  if (data) render(data);
  else $("#results").textContent = "";
  document.body.dataset.state = "done";
}

async function start() {
  $("#search").addEventListener("submit", search);
  const health = await api("/healthz");
  if (health) {
    summary = health;
    const notice = $("#notice");
    if (!health.thumbnails) {
      notice.textContent = "This gallery has no thumbnails (it was built from features, not video files): results are shown as text.";
      notice.hidden = false;
    }
    setStatus(health.videos + " videos, " + health.clips + " clips");
  }
  document.body.dataset.state = "ready";
}

start();
