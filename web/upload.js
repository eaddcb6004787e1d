// Practika upload flow for browsers: the part an app copies. Plain ES module, no dependencies.
//
//   import { PractikaClient } from "./upload.js";
//   const client = new PractikaClient(apiUrl, () => tokenFromYourIdentityProvider());
//   const video = await client.uploadVideo(file, { onProgress: (sent, total) => ... });
//   const ready = await client.waitForVideo(video.video_id);          // "ready" or "rejected"
//   const clip = await client.waitForClip((await client.requestClip(video.video_id, 1, 3)).clip_id);
//
// Bytes go straight to S3 (presigned POST, or presigned part PUTs above the multipart threshold);
// the API only hands out URLs. The buckets' and the API's CORS rules (template.yaml) must allow
// the page's origin, and the uploads bucket must expose ETag, which completing a multipart upload needs.

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || (body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "http_error";
    this.details = error.details;
  }
}

export class PractikaClient {
  /**
   * @param {string} apiUrl the HTTP API's base URL
   * @param {() => string | Promise<string>} getToken the user's bearer token (a JWT)
   * @param {{partConcurrency?: number, partAttempts?: number, pollMs?: number}} options
   */
  constructor(apiUrl, getToken, { partConcurrency = 4, partAttempts = 4, pollMs = 1000 } = {}) {
    this.apiUrl = apiUrl.replace(/\/$/, "");
    this.getToken = getToken;
    this.partConcurrency = partConcurrency;
    this.partAttempts = partAttempts;
    this.pollMs = pollMs;
  }

  async call(method, path, body) {
    const headers = { Authorization: `Bearer ${await this.getToken()}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const answer = await fetch(this.apiUrl + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const parsed = await answer.json().catch(() => null);
    if (!answer.ok) throw new ApiError(answer.status, parsed);
    return parsed;
  }

  /** Ask for an upload, send the bytes, complete a multipart upload. Resolves to the video view. */
  async uploadVideo(file, { contentType = file.type || "video/mp4", filename = file.name || "video",
    onProgress = () => {}, onEvent = () => {} } = {}) {
    const video = await this.call("POST", "/videos", { filename, content_type: contentType, size_bytes: file.size });
    onEvent({ type: "created", video });
    const upload = video.upload;
    if (upload.method === "POST") {
      await postForm(upload, file, (sent) => onProgress(sent, file.size));
      onEvent({ type: "uploaded", method: "POST" });
      return video;
    }
    const parts = await this.putParts(upload, file, onProgress, onEvent);
    const completed = await this.call("POST", `/videos/${video.video_id}/complete`, { parts });
    onEvent({ type: "uploaded", method: "MULTIPART", parts: parts.length });
    return { ...completed, upload };
  }

  /** Every part PUT to its presigned URL, `partConcurrency` at a time, each retried on failure. */
  async putParts(upload, file, onProgress, onEvent) {
    const sent = new Array(upload.parts.length).fill(0);
    const report = () => onProgress(sent.reduce((a, b) => a + b, 0), file.size);
    const results = [];
    let next = 0;
    const worker = async () => {
      while (next < upload.parts.length) {
        const index = next++;
        const part = upload.parts[index];
        const start = (part.part_number - 1) * upload.part_size;
        const blob = file.slice(start, Math.min(start + upload.part_size, file.size));
        for (let attempt = 1; ; attempt++) {
          try {
            const etag = await putPart(part.url, blob, (loaded) => { sent[index] = loaded; report(); });
            results[index] = { part_number: part.part_number, etag };
            break;
          } catch (error) {
            sent[index] = 0;
            report();
            onEvent({ type: "part_failed", part_number: part.part_number, attempt, error: String(error.message) });
            if (attempt >= this.partAttempts) throw error;
            await sleep(500 * 2 ** (attempt - 1));
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.partConcurrency, upload.parts.length) }, worker));
    return results;
  }

  getVideo(videoId) { return this.call("GET", `/videos/${videoId}`); }

  /** Poll until validation decided: the video view, status "ready" or "rejected". */
  waitForVideo(videoId, { timeoutMs = 120000, onStatus = () => {} } = {}) {
    return this.poll(() => this.getVideo(videoId), (v) => ["ready", "rejected"].includes(v.status), onStatus, timeoutMs);
  }

  requestClip(videoId, startS, endS, mode = "fast") {
    return this.call("POST", `/videos/${videoId}/clips`, { start_s: startS, end_s: endS, mode });
  }

  /** Poll until the clip is "ready" (with a download_url) or "failed". */
  waitForClip(clipId, { timeoutMs = 120000, onStatus = () => {} } = {}) {
    return this.poll(() => this.call("GET", `/clips/${clipId}`), (c) => ["ready", "failed"].includes(c.status),
      onStatus, timeoutMs);
  }

  async poll(read, done, onStatus, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await read();
      onStatus(value);
      if (done(value)) return value;
      if (Date.now() > deadline) throw new Error(`still ${value.status} after ${timeoutMs / 1000} s`);
      await sleep(this.pollMs);
    }
  }
}

/** The presigned POST: its fields (the policy pins key and Content-Type) first, the file last, as S3 requires. */
export function postForm(upload, file, onProgress) {
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
  form.append("file", file);
  return send("POST", upload.url, form, onProgress);
}

/** One multipart part; resolves to its ETag (readable only when the bucket's CORS rule exposes it). */
export async function putPart(url, blob, onProgress) {
  const xhr = await send("PUT", url, blob, onProgress);
  const etag = xhr.getResponseHeader("ETag");
  if (!etag) throw new Error("no ETag in the part's answer: the bucket's CORS rule must expose ETag");
  return etag;
}

// XMLHttpRequest, not fetch: fetch has no upload progress events.
function send(method, url, body, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.upload.onprogress = (event) => { if (event.lengthComputable) onProgress(event.loaded); };
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 300
      ? resolve(xhr)
      : reject(new Error(`${method} answered ${xhr.status}: ${xhr.responseText.slice(0, 200)}`)));
    // A CORS refusal and a network failure look the same to a page: status 0, no details.
    xhr.onerror = () => reject(new Error(`${method} failed (network error or refused by CORS)`));
    xhr.send(body);
  });
}

/** Save a clip: fetch it (the clips bucket's CORS rule allows GET) and hand the bytes to the browser. */
export async function downloadClip(url, filename) {
  const answer = await fetch(url);
  if (!answer.ok) throw new Error(`download answered ${answer.status}`);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await answer.blob());
  link.download = filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
