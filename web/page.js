// The reference page's wiring: buttons and fields around PractikaClient (upload.js).
import { PractikaClient, downloadClip } from "./upload.js";

const $ = (id) => document.getElementById(id);
const state = { video: null, clip: null, events: [] };
window.practika = state; // what happened, for people in the console and for the browser tests

function log(message) {
  $("log").textContent += `${new Date().toISOString().slice(11, 19)} ${message}\n`;
  $("log").scrollTop = $("log").scrollHeight;
}

function set(id, text) { $(id).textContent = text; }

async function config() {
  // ?api=<url> points the page at any API; the local stack serves config.json beside the page.
  const fromQuery = new URLSearchParams(location.search).get("api");
  if (fromQuery) return { api_url: fromQuery };
  const answer = await fetch("config.json").catch(() => null);
  return answer && answer.ok ? answer.json() : { api_url: "" };
}

const { api_url: apiUrl } = await config();
set("api-url", apiUrl || "(none: add ?api=<url>)");
const client = new PractikaClient(apiUrl, () => $("token").value.trim(),
  { partConcurrency: Number(new URLSearchParams(location.search).get("parts") || 4) });

$("local-token").onclick = async () => {
  const answer = await fetch("local-token", { method: "POST", body: JSON.stringify({ sub: "web-user" }) });
  if (!answer.ok) return log(`no local token here (${answer.status}): paste one`);
  $("token").value = (await answer.json()).token;
  log("local token ready");
};

async function upload(file, contentType) {
  $("clip").disabled = true;
  set("upload-state", "uploading");
  state.events = [];
  const onEvent = (event) => {
    state.events.push(event);
    if (event.type === "created") {
      state.video = event.video;
      set("video-id", event.video.video_id);
      set("video-state", event.video.status);
      log(`video ${event.video.video_id}: upload by ${event.video.upload.method}` +
        (event.video.upload.parts ? ` in ${event.video.upload.parts.length} parts` : ""));
    } else if (event.type === "part_failed") {
      log(`part ${event.part_number} failed (attempt ${event.attempt}): ${event.error}; retrying`);
    }
  };
  const onProgress = (sent, total) => {
    const percent = Math.floor((sent * 100) / total);
    $("progress").value = percent;
    set("percent", `${percent}%`);
  };
  try {
    await client.uploadVideo(file, { contentType, onProgress, onEvent });
    set("upload-state", "uploaded");
    log(`uploaded ${file.size} bytes`);
    const video = await client.waitForVideo(state.video.video_id, { onStatus: (v) => set("video-state", v.status) });
    state.video = video;
    set("video-state", video.status === "rejected" ? `rejected: ${video.rejection.code}` : video.status);
    log(video.status === "ready"
      ? `ready: ${video.media.container} ${video.media.width}x${video.media.height}, ${video.media.duration_s} s`
      : `rejected: ${video.rejection.code} (${video.rejection.message})`);
    $("clip").disabled = video.status !== "ready";
  } catch (error) {
    set("upload-state", `failed: ${error.message}`);
    log(`upload failed: ${error.code || ""} ${error.message}`);
  }
}

$("upload").onclick = () => {
  const file = $("file").files[0];
  if (!file) return log("choose a file first");
  return upload(file, file.type || "video/mp4");
};

$("record").onclick = async () => {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    const type = ["video/webm;codecs=vp9", "video/webm;codecs=vp8", "video/webm"].find((t) => MediaRecorder.isTypeSupported(t));
    const recorder = new MediaRecorder(stream, { mimeType: type });
    const chunks = [];
    recorder.ondataavailable = (event) => chunks.push(event.data);
    const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
    set("upload-state", "recording");
    recorder.start(250);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    recorder.stop();
    await stopped;
    stream.getTracks().forEach((track) => track.stop());
    const blob = new Blob(chunks, { type: "video/webm" });
    log(`recorded ${blob.size} bytes of ${type}`);
    await upload(new File([blob], "recording.webm", { type: "video/webm" }), "video/webm");
  } catch (error) {
    set("upload-state", `failed: ${error.message}`);
    log(`recording failed: ${error.message}`);
  }
};

$("clip").onclick = async () => {
  $("download").disabled = true;
  try {
    const asked = await client.requestClip(state.video.video_id, Number($("start").value), Number($("end").value),
      $("mode").value);
    set("clip-id", asked.clip_id);
    const clip = await client.waitForClip(asked.clip_id, { onStatus: (c) => set("clip-state", c.status) });
    state.clip = clip;
    if (clip.status !== "ready") {
      set("clip-state", `failed: ${clip.error && clip.error.code}`);
      return log(`clip failed: ${JSON.stringify(clip.error)}`);
    }
    log(`clip ready: ${clip.actual.start_s}–${clip.actual.end_s} s`);
    $("player").src = clip.download_url;
    await $("player").play().catch((error) => log(`autoplay refused: ${error.message}`));
    $("download").disabled = false;
  } catch (error) {
    set("clip-state", `failed: ${error.message}`);
    log(`clip failed: ${error.code || ""} ${error.message}`);
  }
};

$("download").onclick = () => downloadClip(state.clip.download_url, `clip-${state.clip.clip_id}.mp4`)
  .then(() => log("clip downloaded"), (error) => log(`download failed: ${error.message}`));

log("ready: get or paste a token, then upload");
