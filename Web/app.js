// Starling web app: join a room over the /rtc WebSocket (docs/PROTOCOL.md), publish camera and microphone
// (camera in 3 simulcast layers) on one RTCPeerConnection we offer, receive everyone else on a second one the
// server offers, and show a grid of tiles. Plain ES module, no dependencies.
//
// Test hooks: window.starling (state, participants, stats(), join(), shareScreen(), stopScreen(), leave(), ...)
// and window.starlingLog (the log lines).
//
// `?relay=1` in the page's address makes both connections use only the TURN servers of the join response
// (iceTransportPolicy "relay"), as a participant whose network allows nothing else would: a check of the TURN
// setup. Without TURN servers configured, such a page cannot connect.
//
// `?codec=vp8|vp9|h264|av1` puts that codec first in the camera's and screen's codec preferences
// (RTCRtpTransceiver.setCodecPreferences), so the room forwards it; `?bundle=max-bundle` sets that bundle policy on
// both connections (the offers' non-first m-sections are then bundle-only, RFC 8843 §7.2), as many SFU client
// libraries do. Both are for checking what the server accepts and forwards.

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------------------
// Log and notices

const logLines = [];
window.starlingLog = logLines;

function log(...parts) {
  const line = `${new Date().toISOString().slice(11, 23)} ${parts.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join(" ")}`;
  logLines.push(line);
  if (logLines.length > 2000) logLines.splice(0, logLines.length - 2000);
  const pre = $("log");
  pre.textContent += line + "\n";
  if (pre.textContent.length > 200000) pre.textContent = pre.textContent.slice(-100000);
  console.log("[starling]", line);
}

/** Shows a notice; errors stay until dismissed, others fade after a while. */
function notify(message, kind = "info") {
  if (kind === "error") state.errors.push(message);
  log(`${kind}: ${message}`);
  const box = document.createElement("div");
  box.className = `notice ${kind}`;
  const text = document.createElement("span");
  text.textContent = message;
  const close = document.createElement("button");
  close.textContent = "×";
  close.title = "Dismiss";
  close.onclick = () => box.remove();
  box.append(text, close);
  $("notices").append(box);
  if (kind !== "error") setTimeout(() => box.remove(), 6000);
}

function setStatus(text, cls = "") {
  const el = $("conn-status");
  el.textContent = text;
  el.className = `conn-status ${cls}`;
}

// ---------------------------------------------------------------------------------------------------------
// State. Plain data only (the test reads it through chromedriver); media objects live in `rt` below.

const state = {
  phase: "idle", // idle | joining | joined | left | error
  room: null,
  me: null, // {id, identity, name}
  participants: {}, // id -> {id, identity, name} (others only)
  tracks: {}, // trackId -> track summary {id, participantId, kind, source, name?, muted}
  local: { camera: null, microphone: null, screen: null }, // source -> {trackId, mid, muted}
  activeSpeaker: null, // participant id
  layers: {}, // trackId -> spatialLayer (from layerChanged)
  quality: {}, // participantId -> connection quality
  remote: {}, // trackId -> last stats sample of a received track
  publishStats: {}, // rid or source -> outbound sample
  events: [], // received events (type + short summary), newest last
  errors: [],
  subscriberRevision: 0,
  mids: {}, // subscriber mid -> trackId (current offer)
  chat: [], // {from, name, text, own, at}
  transfers: {}, // transfer id -> {id, name, size, done, direction, from, state}
  files: [], // received files: {id, name, size, from, sha256, expected, verified}
  dataReady: false,
};

// Runtime objects that are not plain data.
const rt = {
  ws: null,
  nextRequestId: 1,
  pending: new Map(), // request id -> {resolve, reject, type, timer}
  iceServers: [], // TURN servers from the join response
  pub: null, // publishing RTCPeerConnection
  sub: null, // subscribing RTCPeerConnection
  localStream: null,
  camera: null, // {track, transceiver}
  microphone: null,
  screen: null,
  subQueue: Promise.resolve(), // subscriber offers, handled one at a time
  pubQueue: Promise.resolve(), // publish negotiations, one at a time
  received: new Map(), // subscriber mid -> {track, streamId}
  tiles: new Map(), // tile key -> tile object
  statsTimer: null,
  prevBytes: new Map(), // stats id -> {bytes, at}
  speakerEvents: false, // true once the server sent activeSpeaker (then audio levels are not used)
  token: null, // kept for resuming after a dropped WebSocket
  dc: { reliable: null, lossy: null }, // the relay channels Starling opens on the subscribing connection
  dataLimits: null, // from the join response: maxMessageBytes, bytesPerSecond, ...
  speakerHold: 0,
};

// ---------------------------------------------------------------------------------------------------------
// Signaling: requests with ids, answered by response or error; events without ids.

function connectSignaling() {
  const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/rtc`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    rt.ws = ws;
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error(`could not connect to ${url}`));
    ws.onclose = (e) => {
      log(`signaling closed (code ${e.code})`);
      for (const [, p] of rt.pending) { clearTimeout(p.timer); p.reject(new Error("signaling connection closed")); }
      rt.pending.clear();
      if (rt.ws === ws && state.phase === "joined") reconnect();
    };
    ws.onmessage = (e) => {
      let msg;
      try { msg = JSON.parse(e.data); } catch { notify("The server sent a message that is not JSON", "error"); return; }
      onMessage(msg);
    };
  });
}

function request(type, fields = {}, timeoutMs = 15000) {
  const ws = rt.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error(`${type}: not connected`));
  const id = rt.nextRequestId++;
  ws.send(JSON.stringify({ type, id, ...fields }));
  log(`-> ${type} #${id}`);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { rt.pending.delete(id); reject(new Error(`${type}: no answer in ${timeoutMs / 1000} s`)); }, timeoutMs);
    rt.pending.set(id, { resolve, reject, type, timer });
  });
}

class ServerError extends Error {
  constructor(type, error) {
    super(`${type} failed: ${error.code}: ${error.message}`);
    this.code = error.code;
  }
}

function onMessage(msg) {
  if (msg.type === "response" || (msg.type === "error" && msg.id !== undefined && rt.pending.has(msg.id))) {
    const p = rt.pending.get(msg.id);
    if (!p) { log(`response to unknown request ${msg.id}`); return; }
    rt.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.type === "response") { log(`<- response #${msg.id} (${p.type})`); p.resolve(msg.result || {}); }
    else { log(`<- error #${msg.id} (${p.type})`, msg.error); p.reject(new ServerError(p.type, msg.error || {})); }
    return;
  }
  if (msg.type === "error") { notify(`Server error: ${msg.error?.code}: ${msg.error?.message}`, "error"); return; }
  onEvent(msg);
}

// ---------------------------------------------------------------------------------------------------------
// Events

function recordEvent(msg) {
  const { type, sdp, ...rest } = msg; // SDPs are long; keep the rest
  state.events.push({ type, at: Date.now(), ...rest });
  if (state.events.length > 500) state.events.splice(0, state.events.length - 500);
}

function onEvent(msg) {
  recordEvent(msg);
  log(`<- ${msg.type}`, msg.type === "subscriberOffer" ? `revision ${msg.revision}` : JSON.stringify({ ...msg, type: undefined }));
  switch (msg.type) {
    case "participantJoined":
      addParticipant(msg.participant);
      notify(`${msg.participant.name || msg.participant.identity} joined`);
      break;
    case "participantLeft": {
      const p = state.participants[msg.participantId];
      removeParticipant(msg.participantId);
      if (p) notify(`${p.name || p.identity} left${msg.reason && msg.reason !== "left" ? ` (${msg.reason})` : ""}`);
      break;
    }
    case "trackPublished":
      state.tracks[msg.track.id] = msg.track;
      renderRemote();
      break;
    case "trackUnpublished":
      delete state.tracks[msg.trackId];
      delete state.remote[msg.trackId];
      renderRemote();
      break;
    case "trackMuted": {
      if (state.tracks[msg.trackId]) state.tracks[msg.trackId].muted = msg.muted;
      // The server (control API's muteTrack) muted one of our own tracks: stop sending it here too.
      const own = Object.entries(state.local).find(([, info]) => info?.trackId === msg.trackId);
      if (own && msg.by === "server") {
        const [source, info] = own;
        info.muted = msg.muted;
        if (rt[source]) rt[source].track.enabled = !msg.muted;
        notify(`The server ${msg.muted ? "muted" : "unmuted"} your ${source}`, "info");
        updateSelfTile();
        updateControls();
      }
      renderRemote();
      break;
    }
    case "subscriberOffer":
      // One at a time: the next offer waits until this one is answered.
      rt.subQueue = rt.subQueue.then(() => handleSubscriberOffer(msg)).catch((e) => {
        if (state.phase === "joined") notify(`Receiving failed: ${e.message}`, "error"); else log(`subscriber offer: ${e.message}`);
      });
      break;
    case "activeSpeaker":
      rt.speakerEvents = true;
      setActiveSpeaker(msg.participantId ?? null);
      break;
    case "layerChanged":
      state.layers[msg.trackId] = msg.spatialLayer;
      break;
    case "connectionQuality":
      state.quality[msg.participantId] = msg.quality;
      renderRemote();
      break;
    case "roomClosed":
      notify(`The room was closed${msg.reason ? `: ${msg.reason}` : ""}`, "error");
      teardown("left");
      break;
    case "removed":
      if (msg.reason === "media_timeout") {
        // Our media connection lost its path for good: the server closes this socket and we join again.
        notify("The media connection was lost; joining again…", "warn");
        break;
      }
      notify(`You were removed from the room${msg.reason ? `: ${msg.reason}` : ""}`, "error");
      teardown("left");
      break;
    case "subscriptionFailed":
      notify(`A track could not be received: ${msg.message}`, "warn");
      break;
    case "dataError":
      notify(msg.reason === "reliable_overflow"
        ? "Messages to you arrived faster than your connection took them; some were lost"
        : `A message was refused: ${msg.reason}${msg.limit ? ` (limit ${msg.limit})` : ""}`, "error");
      break;
    default:
      log(`unknown event ${msg.type}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Joining and leaving

/**
 * A new identity per join: two tabs (even a duplicated one) never share one, since a second join of the same
 * identity replaces the first. A closing page leaves explicitly (see pagehide), so nothing lingers.
 */
function identityFor(name) {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 32) || "guest";
  return `${slug}-${Math.random().toString(36).slice(2, 8)}`;
}

async function fetchToken(room, name) {
  const pasted = $("token-input").value.trim();
  if (!$("token-field").hidden && pasted) return pasted;
  const q = new URLSearchParams({ room, identity: identityFor(name), name });
  const r = await fetch(`/dev/token?${q}`);
  if (r.status === 404) {
    $("token-field").hidden = false;
    throw new Error("This server does not issue development tokens: paste a token for the room and join again.");
  }
  if (!r.ok) throw new Error(`GET /dev/token answered ${r.status}: ${(await r.text()).trim()}`);
  return (await r.json()).token;
}

async function join(room, name) {
  if (state.phase === "joining" || state.phase === "joined") throw new Error("already in a room");
  room = String(room).trim();
  name = String(name).trim();
  if (!room || !name) throw new Error("a name and a room are needed");
  Object.assign(state, {
    phase: "joining", room, me: null, participants: {}, tracks: {}, activeSpeaker: null, layers: {}, quality: {},
    remote: {}, publishStats: {}, mids: {}, subscriberRevision: 0, local: { camera: null, microphone: null, screen: null },
  });
  $("join-button").disabled = true;
  setStatus("joining…");
  try {
    const token = await fetchToken(room, name);
    await startLocalMedia();
    showCall(room);
    updateSelfTile(); // own preview while connecting
    await connectSignaling();
    rt.sub = newSubscriber();
    const result = await request("join", { token, data: true });
    rt.token = token;
    rt.resumeToken = result.resumeToken;
    useIceServers(result.iceServers);
    rt.dataLimits = result.data || null;
    state.me = result.participant;
    state.phase = "joined";
    for (const p of result.participants || []) addParticipant(p);
    for (const t of result.tracks || []) state.tracks[t.id] = t;
    updateSelfTile();
    renderRemote();
    log(`joined ${room} as ${state.me.id}`);
    rt.statsTimer = setInterval(() => pollStats().catch((e) => log(`stats: ${e.message}`)), 1000);
    if (rt.camera || rt.microphone) await enqueuePublish(() => publishInitial());
    updateStatus();
    return state.me;
  } catch (e) {
    notify(e.message, "error");
    if (state.phase !== "joined") teardown("error");
    throw e;
  } finally {
    $("join-button").disabled = false;
  }
}

async function leave() {
  if (!["joined", "joining", "reconnecting"].includes(state.phase)) return;
  state.phase = "leaving"; // the server closes the socket after answering: not an error
  try { await request("leave", {}, 3000); } catch (e) { log(`leave: ${e.message}`); }
  teardown("left");
}

/**
 * The WebSocket dropped while in the room: join again with `reconnect: true` for a while. When the server resumes
 * the participant, the media connections stay and restart ICE (the server sends a new subscriberOffer; we send a
 * new publish offer with iceRestart). When it does not, the old connections are replaced by new ones.
 */
async function reconnect() {
  state.phase = "reconnecting";
  setStatus("reconnecting…", "bad");
  notify("The signaling connection dropped; reconnecting…", "warn");
  const started = Date.now();
  for (let attempt = 1; Date.now() - started < 15000; attempt++) {
    await new Promise((r) => setTimeout(r, Math.min(500 * attempt, 3000)));
    if (state.phase !== "reconnecting") return; // left meanwhile
    try {
      await connectSignaling();
      // The resume token of our last join proves this page owns the participant it resumes.
      const result = await request("join", { token: rt.token, reconnect: true, resumeToken: rt.resumeToken }, 10000);
      rt.resumeToken = result.resumeToken;
      useIceServers(result.iceServers);
      state.phase = "joined";
      state.participants = {};
      state.tracks = {};
      for (const p of result.participants || []) state.participants[p.id] = p;
      for (const t of result.tracks || []) state.tracks[t.id] = t;
      if (result.resumed) {
        state.me = result.participant;
        log("resumed; restarting ICE on the publishing connection");
        if (rt.pub) await enqueuePublish(() => negotiatePublisher({ iceRestart: true }));
      } else {
        log("not resumed: new media connections");
        state.me = result.participant;
        await restartMedia();
      }
      renderRemote();
      updateSelfTile();
      updateStatus();
      notify(result.resumed ? "Reconnected." : "Reconnected (as a new participant).");
      return;
    } catch (e) {
      log(`reconnect attempt ${attempt}: ${e.message}`);
      if (rt.ws) { const ws = rt.ws; rt.ws = null; ws.close(); }
    }
  }
  notify("Could not reconnect; you are no longer in the room.", "error");
  teardown("error");
}

/** After a join that did not resume: fresh publishing and subscribing connections with the same local media. */
async function restartMedia() {
  for (const pc of [rt.pub, rt.sub]) if (pc) pc.close();
  rt.pub = null;
  rt.received.clear();
  rt.subQueue = Promise.resolve();
  rt.pubQueue = Promise.resolve();
  if (rt.screen) { rt.screen.track.stop(); rt.screen = null; }
  state.local = { camera: null, microphone: null, screen: null };
  state.mids = {};
  rt.sub = newSubscriber();
  if (rt.camera || rt.microphone) await enqueuePublish(() => publishInitial());
}

/** The TURN servers of the join response (fresh credentials on every join), for both connections. */
function useIceServers(servers) {
  rt.iceServers = Array.isArray(servers) ? servers : [];
  if (rt.sub) rt.sub.setConfiguration(rtcConfiguration());
}

const PAGE_OPTIONS = new URLSearchParams(location.search);
/** `?relay=1`: relay candidates only (see the top of this file). */
const ICE_TRANSPORT_POLICY = PAGE_OPTIONS.get("relay") === "1" ? "relay" : "all";
/** `?bundle=max-bundle` (or balanced, max-compat): the connections' bundle policy; the browser's default otherwise. */
const BUNDLE_POLICY = ["max-bundle", "balanced", "max-compat"].includes(PAGE_OPTIONS.get("bundle")) ? PAGE_OPTIONS.get("bundle") : null;
/** `?codec=vp9` etc.: the video codec put first in our video transceivers' preferences. */
const PREFERRED_VIDEO_CODEC = (PAGE_OPTIONS.get("codec") || "").toLowerCase();

function rtcConfiguration() {
  const config = { iceServers: rt.iceServers || [], iceTransportPolicy: ICE_TRANSPORT_POLICY };
  if (BUNDLE_POLICY) config.bundlePolicy = BUNDLE_POLICY;
  return config;
}

/** Puts `?codec=` first in a video transceiver's codec preferences (no-op without it, or when the browser lacks it). */
function preferVideoCodec(transceiver) {
  if (!PREFERRED_VIDEO_CODEC || !transceiver.setCodecPreferences || !RTCRtpSender.getCapabilities) return;
  const codecs = RTCRtpSender.getCapabilities("video")?.codecs || [];
  const wanted = codecs.filter((c) => c.mimeType.toLowerCase() === `video/${PREFERRED_VIDEO_CODEC}`);
  if (wanted.length === 0) {
    log(`codec ${PREFERRED_VIDEO_CODEC} is not supported by this browser`);
    return;
  }
  transceiver.setCodecPreferences([...wanted, ...codecs.filter((c) => !wanted.includes(c))]);
  log(`preferring ${PREFERRED_VIDEO_CODEC} (${wanted.length} variants)`);
}

function newSubscriber() {
  const pc = new RTCPeerConnection(rtcConfiguration());
  pc.ontrack = onRemoteTrack;
  pc.ondatachannel = (e) => onDataChannel(e.channel);
  pc.onconnectionstatechange = () => { log(`subscriber ${pc.connectionState}`); updateStatus(); };
  return pc;
}

/** Closes everything and returns to the join form. */
function teardown(phase) {
  state.phase = phase;
  clearInterval(rt.statsTimer);
  rt.statsTimer = null;
  const ws = rt.ws;
  rt.ws = null;
  if (ws && ws.readyState <= WebSocket.OPEN) ws.close();
  for (const pc of [rt.pub, rt.sub]) if (pc) pc.close();
  rt.pub = rt.sub = null;
  rt.dc = { reliable: null, lossy: null };
  state.dataReady = false;
  state.chat = [];
  state.transfers = {};
  $("chat-messages").textContent = "";
  $("transfers").textContent = "";
  for (const t of rt.localStream?.getTracks() || []) t.stop();
  if (rt.screen) rt.screen.track.stop();
  rt.localStream = rt.camera = rt.microphone = rt.screen = null;
  rt.received.clear();
  rt.subQueue = Promise.resolve();
  rt.pubQueue = Promise.resolve();
  for (const key of [...rt.tiles.keys()]) removeTile(key);
  state.participants = {};
  state.tracks = {};
  state.remote = {};
  $("call-view").hidden = true;
  $("join-view").hidden = false;
  $("room-label").textContent = "";
  setStatus(phase === "error" ? "disconnected (error)" : "not connected", phase === "error" ? "bad" : "");
}

// ---------------------------------------------------------------------------------------------------------
// Publishing: our offer, the server's answer.

const SIMULCAST = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

async function startLocalMedia() {
  try {
    rt.localStream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true },
      video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30, max: 30 } },
    });
  } catch (e) {
    // Joining without camera/microphone still lets the participant watch; say why.
    notify(`No camera or microphone (${e.name}: ${e.message}); joining to watch only.`, "warn");
    rt.localStream = new MediaStream();
  }
  const video = rt.localStream.getVideoTracks()[0];
  const audio = rt.localStream.getAudioTracks()[0];
  if (video) { video.contentHint = "motion"; rt.camera = { track: video, transceiver: null }; }
  if (audio) rt.microphone = { track: audio, transceiver: null };
}

/** Publish negotiations are serialized so that a screen share never overlaps another offer. */
function enqueuePublish(fn) {
  const run = rt.pubQueue.then(fn);
  rt.pubQueue = run.catch(() => {});
  return run;
}

async function publishInitial() {
  rt.pub = new RTCPeerConnection(rtcConfiguration());
  rt.pub.onconnectionstatechange = () => { log(`publisher ${rt.pub?.connectionState}`); updateStatus(); };
  if (rt.microphone) {
    rt.microphone.transceiver = rt.pub.addTransceiver(rt.microphone.track, { direction: "sendonly", streams: [rt.localStream] });
  }
  if (rt.camera) {
    rt.camera.transceiver = rt.pub.addTransceiver(rt.camera.track, {
      direction: "sendonly", streams: [rt.localStream], sendEncodings: SIMULCAST.map((e) => ({ ...e })),
    });
    preferVideoCodec(rt.camera.transceiver);
  }
  await negotiatePublisher();
}

/** Which of our transceivers carry which source (only live ones: a stopped transceiver is unpublished). */
function publishedSources() {
  const list = [];
  for (const source of ["microphone", "camera", "screen"]) {
    const t = rt[source]?.transceiver;
    if (t && t.direction !== "stopped" && t.mid !== null) list.push({ mid: t.mid, source });
  }
  return list;
}

/** Creates an offer on the publishing connection, sends `publish`, applies the answer. Rolls back on error. */
async function negotiatePublisher(options = {}) {
  const pc = rt.pub;
  await pc.setLocalDescription(await pc.createOffer(options));
  await iceGathered(pc, 2000);
  const tracks = publishedSources();
  let result;
  try {
    result = await request("publish", { sdp: pc.localDescription.sdp, tracks }, 20000);
  } catch (e) {
    if (pc.signalingState === "have-local-offer") await pc.setLocalDescription({ type: "rollback" }).catch(() => {});
    throw e;
  }
  await pc.setRemoteDescription({ type: "answer", sdp: result.sdp });
  // The server lists the tracks it made; match them to ours by mid when it says, else by source.
  for (const t of result.tracks || []) {
    const mine = tracks.find((x) => (t.mid !== undefined ? x.mid === t.mid : x.source === t.source));
    if (!mine) continue;
    state.local[mine.source] = { trackId: t.id, mid: mine.mid, muted: !!t.muted };
  }
  for (const source of Object.keys(state.local)) {
    if (!tracks.some((x) => x.source === source)) state.local[source] = null;
  }
  // A section the server answered without making a track (rejected, or a codec it does not forward) is not
  // published, whatever the browser shows locally: say so rather than leave an empty tile.
  const refused = tracks.filter((t) => !(result.tracks || []).some((x) => (x.mid !== undefined ? x.mid === t.mid : x.source === t.source)));
  if (refused.length > 0) notify(`The server did not publish your ${refused.map((t) => t.source).join(" and ")}`, "error");
  log("published", tracks.map((t) => `${t.source}@${t.mid}`).join(", "));
  updateSelfTile();
}

function iceGathered(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, timeoutMs);
    function done() { clearTimeout(t); pc.removeEventListener("icegatheringstatechange", check); resolve(); }
    function check() { if (pc.iceGatheringState === "complete") done(); }
    pc.addEventListener("icegatheringstatechange", check);
  });
}

// ---------------------------------------------------------------------------------------------------------
// Mute toggles and screen sharing

async function setMuted(source, muted) {
  const local = rt[source];
  if (!local) throw new Error(`no ${source} to mute`);
  local.track.enabled = !muted;
  const info = state.local[source];
  if (info) {
    info.muted = muted;
    try {
      await request("mute", { trackId: info.trackId, muted });
    } catch (e) {
      notify(e.message, "error");
      throw e;
    }
  }
  updateSelfTile();
  updateControls();
}

const toggleMic = () => setMuted("microphone", rt.microphone?.track.enabled ?? false);
const toggleCamera = () => setMuted("camera", rt.camera?.track.enabled ?? false);

async function shareScreen() {
  if (state.phase !== "joined") throw new Error("join first");
  if (rt.screen) return state.local.screen;
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
  } catch (e) {
    notify(`Screen sharing was not started: ${e.name}: ${e.message}`, "error");
    throw e;
  }
  const track = stream.getVideoTracks()[0];
  track.contentHint = "detail";
  track.onended = () => { if (rt.screen?.track === track) stopScreen().catch(() => {}); };
  try {
    await enqueuePublish(async () => {
      if (!rt.pub) await publishInitial();
      rt.screen = { track, transceiver: rt.pub.addTransceiver(track, { direction: "sendonly", streams: [new MediaStream([track])] }) };
      preferVideoCodec(rt.screen.transceiver);
      updateSelfTile();
      try {
        await negotiatePublisher();
      } catch (e) {
        // Undo: the offer was rolled back; the transceiver must not linger.
        try { rt.screen?.transceiver.stop(); } catch {}
        rt.screen = null;
        throw e;
      }
    });
  } catch (e) {
    track.stop();
    updateSelfTile();
    updateControls();
    notify(`Screen sharing failed: ${e.message}`, "error");
    throw e;
  }
  updateControls();
  return state.local.screen;
}

async function stopScreen() {
  if (!rt.screen) return;
  const screen = rt.screen;
  try {
    await enqueuePublish(async () => {
      screen.transceiver.stop(); // stops the track; its m-line goes to port 0 in the next offer
      rt.screen = null;
      updateSelfTile();
      await negotiatePublisher();
    });
  } catch (e) {
    notify(`Stopping the screen share failed: ${e.message}`, "error");
    throw e;
  } finally {
    screen.track.stop();
    rt.screen = null;
    state.local.screen = null;
    updateSelfTile();
    updateControls();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Receiving: the server offers, we answer; one offer at a time.

/** mid -> {direction, streamId, trackId} of each m-section of an SDP. */
function parseMediaSections(sdp) {
  const out = {};
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    const mid = /\r?\na=mid:(\S+)/.exec(section)?.[1];
    if (mid === undefined) continue;
    const msid = /\r?\na=msid:(\S+) (\S+)/.exec(section);
    const direction = /\r?\na=(sendonly|recvonly|sendrecv|inactive)/.exec(section)?.[1] ?? "sendrecv";
    const port = Number(section.split(" ")[1]);
    out[mid] = { direction: port === 0 ? "inactive" : direction, streamId: msid?.[1] ?? null, trackId: msid?.[2] ?? null };
  }
  return out;
}

async function handleSubscriberOffer(msg) {
  const pc = rt.sub;
  if (!pc || pc.signalingState === "closed") return;
  const sections = parseMediaSections(msg.sdp);
  const mids = {};
  for (const [mid, s] of Object.entries(sections)) {
    const trackId = msg.mids ? msg.mids[mid] : s.trackId;
    if (trackId && s.direction !== "inactive") mids[mid] = trackId;
  }
  await pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
  await pc.setLocalDescription(await pc.createAnswer());
  await request("subscriberAnswer", { sdp: pc.localDescription.sdp, revision: msg.revision });
  state.mids = mids;
  state.subscriberRevision = msg.revision;
  // Drop what is no longer offered.
  for (const mid of [...rt.received.keys()]) if (!(mid in mids)) rt.received.delete(mid);
  renderRemote();
}

function onRemoteTrack(e) {
  const mid = e.transceiver?.mid;
  // event.streams[0].id is the publishing participant's id (a=msid: <participant> <track>).
  rt.received.set(mid, { track: e.track, streamId: e.streams[0]?.id ?? null });
  log(`track ${e.track.kind} on mid ${mid} from ${e.streams[0]?.id}`);
  renderRemote();
}

/** The received media of each remote track: trackId -> {track, mid, participantId}. */
function receivedByTrack() {
  const out = {};
  for (const [mid, r] of rt.received) {
    const trackId = state.mids[mid];
    if (!trackId) continue;
    const summary = state.tracks[trackId];
    out[trackId] = { track: r.track, mid, participantId: summary?.participantId ?? r.streamId };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Tiles

function addParticipant(p) {
  state.participants[p.id] = p;
  renderRemote();
}

function removeParticipant(id) {
  delete state.participants[id];
  for (const [trackId, t] of Object.entries(state.tracks)) {
    if (t.participantId === id) { delete state.tracks[trackId]; delete state.remote[trackId]; }
  }
  if (state.activeSpeaker === id) state.activeSpeaker = null;
  renderRemote();
}

function showCall(room) {
  $("join-view").hidden = true;
  $("call-view").hidden = false;
  $("room-label").textContent = `room ${room}`;
  updateControls();
}

function makeTile(key, { self = false } = {}) {
  let tile = rt.tiles.get(key);
  if (tile) return tile;
  const el = document.createElement("div");
  el.className = "tile no-video" + (self ? " self" : "");
  el.dataset.key = key;
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;
  video.muted = true; // sound goes through the <audio> element
  const audio = document.createElement("audio");
  audio.autoplay = true;
  const avatar = document.createElement("div");
  avatar.className = "avatar";
  const name = document.createElement("div");
  name.className = "name";
  const badges = document.createElement("div");
  badges.className = "badges";
  const overlay = document.createElement("div");
  overlay.className = "overlay";
  el.append(video, audio, avatar, name, badges, overlay);
  tile = { key, el, video, audio, avatar, name, badges, overlay, videoTrack: null, audioTrack: null, participantId: null };
  rt.tiles.set(key, tile);
  // Own tile first, then in order of arrival.
  if (self) $("grid").prepend(el); else $("grid").append(el);
  return tile;
}

function removeTile(key) {
  const tile = rt.tiles.get(key);
  if (!tile) return;
  tile.video.srcObject = null;
  tile.audio.srcObject = null;
  tile.el.remove();
  rt.tiles.delete(key);
}

function setTileMedia(tile, videoTrack, audioTrack) {
  if (tile.videoTrack !== videoTrack) {
    tile.videoTrack = videoTrack;
    tile.video.srcObject = videoTrack ? new MediaStream([videoTrack]) : null;
    if (videoTrack) tile.video.play().catch(() => {});
  }
  if (tile.audioTrack !== audioTrack) {
    tile.audioTrack = audioTrack;
    tile.audio.srcObject = audioTrack ? new MediaStream([audioTrack]) : null;
    if (audioTrack) {
      tile.audio.play().catch((e) => {
        notify("The browser blocked sound until you interact with the page: click anywhere to hear the others.", "warn");
        document.addEventListener("click", () => { for (const t of rt.tiles.values()) t.audio.play().catch(() => {}); }, { once: true });
        log(`audio play: ${e.message}`);
      });
    }
  }
}

function setBadges(tile, labels) {
  const text = labels.join("|");
  if (tile.badges.dataset.text === text) return;
  tile.badges.dataset.text = text;
  tile.badges.replaceChildren(...labels.map((l) => { const b = document.createElement("span"); b.className = "badge"; b.textContent = l; return b; }));
}

function initials(name) {
  return (name || "?").split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join("");
}

function updateSelfTile() {
  if (!state.room || state.phase === "left" || state.phase === "error" || state.phase === "idle") return;
  const me = state.me || { id: "me", name: $("name-input").value };
  const tile = makeTile("self:camera", { self: true });
  tile.participantId = me.id;
  tile.video.classList.add("mirror");
  const camOn = !!rt.camera && rt.camera.track.enabled;
  setTileMedia(tile, rt.camera?.track ?? null, null); // never play our own microphone
  tile.el.classList.toggle("no-video", !camOn);
  tile.avatar.textContent = initials(me.name);
  tile.name.textContent = `${me.name} (you)`;
  const badges = [];
  if (!rt.microphone || !rt.microphone.track.enabled) badges.push("mic off");
  if (!rt.camera || !rt.camera.track.enabled) badges.push("camera off");
  setBadges(tile, badges);
  if (rt.screen) {
    const st = makeTile("self:screen", { self: true });
    st.participantId = me.id;
    if (st.el.previousElementSibling !== rt.tiles.get("self:camera").el) rt.tiles.get("self:camera").el.after(st.el);
    setTileMedia(st, rt.screen.track, null);
    st.el.classList.remove("no-video");
    st.name.textContent = `${me.name} (your screen)`;
  } else {
    removeTile("self:screen");
  }
  updateControls();
}

/** Rebuilds remote tiles from state: one camera tile per participant, one more while it shares its screen. */
function renderRemote() {
  if (state.phase !== "joined") return;
  const received = receivedByTrack();
  const wanted = new Set();
  for (const p of Object.values(state.participants)) {
    const tracks = Object.values(state.tracks).filter((t) => t.participantId === p.id);
    const find = (source) => tracks.find((t) => t.source === source);
    const cam = find("camera"), mic = find("microphone"), screen = find("screen"), screenAudio = find("screen_audio");
    const media = (t) => (t ? received[t.id]?.track ?? null : null);

    const key = `${p.id}:camera`;
    wanted.add(key);
    const tile = makeTile(key);
    tile.participantId = p.id;
    tile.trackId = cam?.id ?? null;
    const camMedia = cam && !cam.muted ? media(cam) : null;
    setTileMedia(tile, media(cam), media(mic));
    tile.el.classList.toggle("no-video", !camMedia);
    tile.avatar.textContent = initials(p.name || p.identity);
    tile.name.textContent = p.name || p.identity;
    const badges = [];
    if (!mic || mic.muted) badges.push("mic off");
    if (!cam || cam.muted) badges.push("camera off");
    if (state.quality[p.id] === "poor") badges.push("poor connection");
    setBadges(tile, badges);

    if (screen) {
      const skey = `${p.id}:screen`;
      wanted.add(skey);
      const st = makeTile(skey);
      st.participantId = p.id;
      st.trackId = screen.id;
      setTileMedia(st, media(screen), media(screenAudio));
      st.el.classList.toggle("no-video", !media(screen));
      st.avatar.textContent = "⧉";
      st.name.textContent = `${p.name || p.identity} (screen)`;
    }
  }
  for (const key of [...rt.tiles.keys()]) {
    if (!key.startsWith("self:") && !wanted.has(key)) removeTile(key);
  }
  highlightSpeaker();
}

function setActiveSpeaker(participantId) {
  state.activeSpeaker = participantId;
  highlightSpeaker();
}

function highlightSpeaker() {
  for (const tile of rt.tiles.values()) {
    tile.el.classList.toggle("speaking", !!state.activeSpeaker && tile.participantId === state.activeSpeaker && tile.key.endsWith(":camera"));
  }
}

function updateControls() {
  const mic = $("mic-button"), cam = $("cam-button"), screen = $("screen-button");
  mic.disabled = !rt.microphone;
  cam.disabled = !rt.camera;
  const micOn = !!rt.microphone?.track.enabled, camOn = !!rt.camera?.track.enabled;
  mic.textContent = micOn ? "Mute mic" : "Unmute mic";
  mic.classList.toggle("off", !micOn);
  cam.textContent = camOn ? "Camera off" : "Camera on";
  cam.classList.toggle("off", !camOn);
  screen.textContent = rt.screen ? "Stop sharing" : "Share screen";
  screen.classList.toggle("on", !!rt.screen);
  screen.disabled = !navigator.mediaDevices?.getDisplayMedia;
}

function updateStatus() {
  if (state.phase !== "joined") return;
  const pub = rt.pub?.connectionState ?? "-", sub = rt.sub?.connectionState ?? "-";
  const bad = [pub, sub].some((s) => s === "failed" || s === "disconnected");
  setStatus(`${state.me?.name} · sending ${pub} · receiving ${sub}`, bad ? "bad" : "ok");
}

// ---------------------------------------------------------------------------------------------------------
// Statistics: every second, per received track (layer, bitrate) and per sent layer; audio levels as a
// fallback for the active speaker when the server sends no activeSpeaker events.

function rate(id, bytes, now) {
  const prev = rt.prevBytes.get(id);
  rt.prevBytes.set(id, { bytes, at: now });
  if (!prev || bytes < prev.bytes) return 0;
  return ((bytes - prev.bytes) * 8) / ((now - prev.at) / 1000);
}

async function pollStats() {
  const now = performance.now();
  if (rt.sub) {
    const report = await rt.sub.getStats();
    const byTrackIdentifier = new Map();
    for (const t of rt.sub.getTransceivers()) if (t.mid !== null) byTrackIdentifier.set(t.receiver.track.id, t.mid);
    const remote = {};
    let loudest = null;
    report.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      const mid = s.mid ?? byTrackIdentifier.get(s.trackIdentifier);
      const trackId = state.mids[mid];
      if (!trackId) return;
      const summary = state.tracks[trackId];
      const sample = {
        trackId, mid, kind: s.kind, participantId: summary?.participantId ?? rt.received.get(mid)?.streamId ?? null,
        source: summary?.source ?? null, ssrc: s.ssrc, bytesReceived: s.bytesReceived || 0, packetsReceived: s.packetsReceived || 0,
        packetsLost: s.packetsLost || 0, bitrate: Math.round(rate(s.id, s.bytesReceived || 0, now)),
        framesDecoded: s.framesDecoded || 0, framesPerSecond: s.framesPerSecond || 0, frameWidth: s.frameWidth || 0,
        frameHeight: s.frameHeight || 0, audioLevel: s.audioLevel ?? null, spatialLayer: state.layers[trackId] ?? null,
      };
      // A reused m-line may briefly show the previous stream as well: keep the one with more bytes.
      if (!remote[trackId] || remote[trackId].bytesReceived < sample.bytesReceived) remote[trackId] = sample;
      if (s.kind === "audio" && (s.audioLevel ?? 0) > 0.02 && (!loudest || s.audioLevel > loudest.level)) {
        loudest = { level: s.audioLevel, participantId: sample.participantId };
      }
    });
    state.remote = remote;
    if (!rt.speakerEvents) {
      if (loudest) { rt.speakerHold = now + 1500; setActiveSpeaker(loudest.participantId); }
      else if (now > rt.speakerHold && state.activeSpeaker) setActiveSpeaker(null);
    }
    renderOverlays();
  }
  if (rt.pub) {
    const report = await rt.pub.getStats();
    const out = {};
    report.forEach((s) => {
      if (s.type !== "outbound-rtp") return;
      const key = s.rid ? `${s.kind}:${s.rid}` : `${s.kind}:${s.mid}`;
      out[key] = {
        kind: s.kind, rid: s.rid ?? null, mid: s.mid ?? null, bytesSent: s.bytesSent || 0, bitrate: Math.round(rate(s.id, s.bytesSent || 0, now)),
        frameWidth: s.frameWidth || 0, frameHeight: s.frameHeight || 0, framesEncoded: s.framesEncoded || 0,
        active: s.active ?? null, qualityLimitationReason: s.qualityLimitationReason ?? null,
        keyFramesEncoded: s.keyFramesEncoded ?? null, pliCount: s.pliCount ?? null, firCount: s.firCount ?? null,
        nackCount: s.nackCount ?? null, targetBitrate: s.targetBitrate ?? null,
        retransmittedBytesSent: s.retransmittedBytesSent ?? null, headerBytesSent: s.headerBytesSent ?? null,
      };
    });
    state.publishStats = out;
    renderSelfOverlay();
  }
}

function kbps(bps) {
  return bps >= 1_000_000 ? `${(bps / 1_000_000).toFixed(2)} Mb/s` : `${Math.round(bps / 1000)} kb/s`;
}

function renderOverlays() {
  for (const tile of rt.tiles.values()) {
    if (tile.key.startsWith("self:")) continue;
    const v = tile.trackId ? state.remote[tile.trackId] : null;
    if (!v) { tile.overlay.textContent = ""; continue; }
    const layer = v.spatialLayer === null || v.spatialLayer === undefined ? "" : ` · layer ${v.spatialLayer}`;
    let text = `${v.frameWidth}x${v.frameHeight}${layer} · ${kbps(v.bitrate)}`;
    const audio = Object.values(state.remote).find(
      (a) => a.kind === "audio" && a.participantId === tile.participantId && (tile.key.endsWith(":camera") ? a.source !== "screen_audio" : a.source === "screen_audio"));
    if (audio) text += `\naudio ${kbps(audio.bitrate)}`;
    tile.overlay.textContent = text;
  }
}

function renderSelfOverlay() {
  const tile = rt.tiles.get("self:camera");
  if (!tile) return;
  const layers = Object.values(state.publishStats).filter((s) => s.kind === "video" && s.rid);
  tile.overlay.textContent = layers
    .sort((a, b) => "qhf".indexOf(a.rid) - "qhf".indexOf(b.rid))
    .map((s) => `${s.rid} ${s.frameWidth}x${s.frameHeight} ${kbps(s.bitrate)}`)
    .join("\n");
}

// ---------------------------------------------------------------------------------------------------------
// UI wiring

function initForm() {
  const q = new URLSearchParams(location.search);
  $("name-input").value = q.get("name") || localStorage.getItem("starling.name") || "";
  $("room-input").value = q.get("room") || localStorage.getItem("starling.room") || "lobby";
  $("join-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("name-input").value, room = $("room-input").value;
    localStorage.setItem("starling.name", name.trim());
    localStorage.setItem("starling.room", room.trim());
    join(room, name).catch(() => {}); // already shown
  });
  $("mic-button").onclick = () => toggleMic().catch(() => {});
  $("cam-button").onclick = () => toggleCamera().catch(() => {});
  $("screen-button").onclick = () => (rt.screen ? stopScreen() : shareScreen()).catch(() => {});
  $("leave-button").onclick = () => leave();
  $("chat-form").addEventListener("submit", (e) => {
    e.preventDefault();
    try {
      sendChat($("chat-input").value);
      $("chat-input").value = "";
    } catch (err) {
      notify(err.message, "error");
    }
  });
  $("file-input").addEventListener("change", () => {
    const file = $("file-input").files[0];
    $("file-input").value = "";
    if (file) sendFile(file).catch((err) => notify(`Sending ${file.name} failed: ${err.message}`, "error"));
  });
  // Leave explicitly when the page goes away: a bare close would keep us in the room for the reconnect window.
  window.addEventListener("pagehide", () => {
    if (rt.ws?.readyState === WebSocket.OPEN) {
      state.phase = "leaving";
      rt.ws.send(JSON.stringify({ type: "leave", id: rt.nextRequestId++ }));
      rt.ws.close();
    }
  });
  // Probe whether the server issues development tokens, to show the token field up front if not.
  fetch("/dev/token").then((r) => { if (r.status === 404) $("token-field").hidden = false; }).catch(() => {});
}

// ---------------------------------------------------------------------------------------------------------
// Data channels: chat and file sharing (docs/PROTOCOL.md, "Data channels"). Starling opens two channels on the
// subscribing connection; every message is wrapped in its envelope: to the server [1, flags, n targets,
// (len, identity)*, payload], from the server [1, flags, len, sender identity, payload]; flags bit 0 = UTF-8 text.

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();
const CHUNK = 16 * 1024;

function encodeEnvelope(payload, targets = []) {
  const isText = typeof payload === "string";
  const body = isText ? utf8.encode(payload) : new Uint8Array(payload);
  const names = targets.map((t) => utf8.encode(t)).filter((n) => n.length > 0 && n.length < 256);
  const size = 3 + names.reduce((n, t) => n + 1 + t.length, 0) + body.length;
  const out = new Uint8Array(size);
  out.set([1, isText ? 1 : 0, names.length]);
  let at = 3;
  for (const n of names) { out[at++] = n.length; out.set(n, at); at += n.length; }
  out.set(body, at);
  return out;
}

function decodeEnvelope(buffer) {
  const bytes = new Uint8Array(buffer);
  if (bytes.length < 3 || bytes[0] !== 1) throw new Error("not a Starling data envelope");
  const n = bytes[2];
  const sender = fromUtf8.decode(bytes.subarray(3, 3 + n));
  const payload = bytes.subarray(3 + n);
  return { sender, isText: (bytes[1] & 1) === 1, payload };
}

function onDataChannel(channel) {
  channel.binaryType = "arraybuffer";
  const which = channel.label === (rt.dataLimits?.lossyLabel || "starling.lossy") ? "lossy" : "reliable";
  rt.dc[which] = channel;
  channel.onopen = updateDataStatus;
  channel.onclose = () => {
    log(`data channel ${channel.label} closed`);
    if (rt.dc[which] === channel) rt.dc[which] = null;
    if (which === "reliable") {
      for (const t of Object.values(state.transfers)) {
        if (t.state === "receiving" || t.state === "sending") { t.state = "failed"; renderTransfer(t); }
      }
    }
    updateDataStatus();
  };
  channel.onmessage = (e) => {
    try {
      onDataMessage(decodeEnvelope(typeof e.data === "string" ? utf8.encode(e.data) : e.data));
    } catch (err) {
      log(`data: ${err.message}`);
    }
  };
  updateDataStatus();
}

function updateDataStatus() {
  state.dataReady = rt.dc.reliable?.readyState === "open";
  const el = $("chat-status");
  el.textContent = state.dataReady ? "chat and files ready" : "data channels connecting…";
  el.classList.toggle("ready", state.dataReady);
}

function nameOf(identity) {
  if (!identity) return "server";
  const p = Object.values(state.participants).find((q) => q.identity === identity);
  return p ? p.name || p.identity : identity;
}

function onDataMessage({ sender, isText, payload }) {
  if (!isText) return receiveChunk(sender, payload);
  let msg;
  try { msg = JSON.parse(fromUtf8.decode(payload)); } catch { msg = { t: "chat", text: fromUtf8.decode(payload) }; }
  if (msg.t === "chat") addChat(sender, String(msg.text ?? ""), false);
  else if (msg.t === "file") startIncoming(sender, msg);
  else if (msg.t === "file-end") finishIncoming(sender, msg);
}

function addChat(from, text, own) {
  const entry = { from, name: own ? "you" : nameOf(from), text, own, at: Date.now() };
  state.chat.push(entry);
  const li = document.createElement("li");
  if (own) li.className = "own";
  const who = document.createElement("span");
  who.className = "from";
  who.textContent = entry.name;
  li.append(who, document.createTextNode(text));
  $("chat-messages").append(li);
  li.scrollIntoView({ block: "end" });
}

function dataSend(payload, targets = []) {
  const ch = rt.dc.reliable;
  if (!ch || ch.readyState !== "open") throw new Error("the data channel is not open yet");
  ch.send(encodeEnvelope(payload, targets));
}

function sendChat(text) {
  text = String(text).trim();
  if (!text) return;
  dataSend(JSON.stringify({ t: "chat", text }));
  addChat(state.me?.identity, text, true);
}

/** Waits until the reliable channel's own buffer has room (backpressure). */
function drained(ch, below) {
  if (ch.bufferedAmount <= below) return Promise.resolve();
  return new Promise((resolve) => {
    ch.bufferedAmountLowThreshold = below;
    const done = () => { ch.removeEventListener("bufferedamountlow", done); resolve(); };
    ch.addEventListener("bufferedamountlow", done);
  });
}

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Sends a file (a File or {name, type, bytes}) to everyone in the room now: an offer (name, size, SHA-256), 16 KiB
 * binary chunks, an end marker, all on the reliable channel, paced under the server's per-sender rate.
 */
async function sendFile(file) {
  const bytes = file.bytes ? new Uint8Array(file.bytes) : new Uint8Array(await file.arrayBuffer());
  const targets = Object.values(state.participants).map((p) => p.identity);
  if (!targets.length) throw new Error("nobody else is in the room");
  const id = hex(crypto.getRandomValues(new Uint8Array(8)));
  const sha256 = hex(await crypto.subtle.digest("SHA-256", bytes));
  const t = { id, name: file.name, size: bytes.length, done: 0, direction: "out", state: "sending", sha256, targets };
  state.transfers[id] = t;
  renderTransfer(t);
  dataSend(JSON.stringify({ t: "file", id, name: file.name, size: bytes.length, type: file.type || "", sha256 }), targets);
  const rate = 0.75 * (rt.dataLimits?.bytesPerSecond || 4 << 20);
  let due = performance.now(); // when the next chunk may go
  const idBytes = utf8.encode(id);
  for (let at = 0, index = 0; at < bytes.length; at += CHUNK, index++) {
    const ch = rt.dc.reliable;
    if (!ch || ch.readyState !== "open" || t.state !== "sending") { t.state = "failed"; renderTransfer(t); throw new Error("the transfer was cut off"); }
    await drained(ch, 256 * 1024);
    // Stay under the server's rate limit (a refused chunk would be lost): each chunk waits its own share of
    // time after the previous one. Time lost waiting for the buffer is not made up in a burst, which the
    // server's one-second bucket would refuse.
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    due = Math.max(due, performance.now()) + (Math.min(CHUNK, bytes.length - at) / rate) * 1000;
    const piece = bytes.subarray(at, Math.min(at + CHUNK, bytes.length));
    const chunk = new Uint8Array(1 + idBytes.length + 4 + piece.length);
    chunk[0] = idBytes.length;
    chunk.set(idBytes, 1);
    new DataView(chunk.buffer).setUint32(1 + idBytes.length, index);
    chunk.set(piece, 5 + idBytes.length);
    dataSend(chunk, targets);
    t.done = at + piece.length;
    renderTransfer(t);
  }
  dataSend(JSON.stringify({ t: "file-end", id }), targets);
  t.state = "sent";
  renderTransfer(t);
  return { id, sha256, size: bytes.length };
}

function startIncoming(from, msg) {
  const id = String(msg.id);
  state.transfers[id] = {
    id, name: String(msg.name || "file"), size: Number(msg.size) || 0, type: String(msg.type || ""), done: 0, direction: "in",
    state: "receiving", from, expected: String(msg.sha256 || ""), chunks: [], next: 0,
  };
  renderTransfer(state.transfers[id]);
  addChat(from, `is sending ${msg.name} (${Math.round((Number(msg.size) || 0) / 1024)} KiB)`, false);
}

function receiveChunk(from, payload) {
  const n = payload[0];
  const id = fromUtf8.decode(payload.subarray(1, 1 + n));
  const t = state.transfers[id];
  if (!t || t.direction !== "in" || t.state !== "receiving" || t.from !== from) return;
  const index = new DataView(payload.buffer, payload.byteOffset + 1 + n, 4).getUint32(0);
  if (index !== t.next) {
    log(`transfer ${id}: chunk ${index} came where ${t.next} was due`);
    t.state = "failed";
    renderTransfer(t);
    return;
  }
  t.next++;
  const piece = payload.slice(5 + n);
  t.chunks.push(piece);
  t.done += piece.length;
  renderTransfer(t);
}

async function finishIncoming(from, msg) {
  const t = state.transfers[String(msg.id)];
  if (!t || t.direction !== "in" || t.from !== from || t.state !== "receiving") return;
  const blob = new Blob(t.chunks, { type: t.type || "application/octet-stream" });
  t.chunks = [];
  const sha256 = hex(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
  const verified = sha256 === t.expected && blob.size === t.size;
  t.state = verified ? "received" : "corrupt";
  t.url = URL.createObjectURL(blob);
  state.files.push({ id: t.id, name: t.name, size: blob.size, from, sha256, expected: t.expected, verified });
  renderTransfer(t);
  // Save it: the browser's download of the verified file.
  if (verified) {
    const a = document.createElement("a");
    a.href = t.url;
    a.download = t.name;
    document.body.append(a);
    a.click();
    a.remove();
  }
}

function renderTransfer(t) {
  let el = document.getElementById(`transfer-${t.id}`);
  if (!el) {
    el = document.createElement("div");
    el.id = `transfer-${t.id}`;
    el.className = "transfer";
    el.innerHTML = '<div class="label"></div><progress max="1" value="0"></progress>';
    $("transfers").append(el);
  }
  const label = el.querySelector(".label");
  const what = t.direction === "out" ? `Sending ${t.name}` : `${t.name} from ${nameOf(t.from)}`;
  const pct = t.size ? Math.floor((t.done / t.size) * 100) : 100;
  label.textContent = `${what}: ${t.state === "receiving" || t.state === "sending" ? `${pct}%` : t.state}`;
  if (t.url && !label.querySelector("a")) {
    const a = document.createElement("a");
    a.href = t.url;
    a.download = t.name;
    a.textContent = " save";
    label.append(a);
  }
  el.querySelector("progress").value = t.size ? t.done / t.size : 1;
  el.classList.toggle("bad", t.state === "failed" || t.state === "corrupt");
}

// ---------------------------------------------------------------------------------------------------------
// Test hooks

window.starling = {
  get state() { return state; },
  get participants() { return Object.values(state.participants); },
  /** The last per-second sample of every received track: trackId -> {framesDecoded, bytesReceived, bitrate, frameWidth, ...}. */
  stats() { return state.remote; },
  publishStats() { return state.publishStats; },
  tiles() {
    return [...rt.tiles.values()].map((t) => ({
      key: t.key, participantId: t.participantId, name: t.name.textContent, hasVideo: !t.el.classList.contains("no-video"),
      speaking: t.el.classList.contains("speaking"), overlay: t.overlay.textContent,
    }));
  },
  join, leave, shareScreen, stopScreen, toggleMic, toggleCamera,
  /** Closes the WebSocket without leaving (as a network drop would): the page reconnects and resumes. */
  dropSignaling() { rt.ws?.close(); },
  sendChat,
  /** Sends {name, bytes} (an array or typed array) as a file; resolves with {id, sha256, size} once all is handed over. */
  sendFile: (f) => sendFile(f),
  chat() { return state.chat.map(({ from, text, own }) => ({ from, text, own })); },
  files() { return state.files; },
  transfers() { return Object.values(state.transfers).map(({ chunks, url, ...t }) => t); },
  setMicMuted: (m) => setMuted("microphone", m),
  setCameraMuted: (m) => setMuted("camera", m),
  /** The selected ICE candidate pair of each connection (getStats): {publisher, subscriber}, each null or
   * {state, local: {candidateType, protocol, address, port, relayProtocol}, remote: {...}}. */
  selectedPairs: async () => ({ publisher: await selectedPair(rt.pub), subscriber: await selectedPair(rt.sub) }),
};

async function selectedPair(pc) {
  if (!pc) return null;
  const stats = await pc.getStats();
  let pairId = null;
  stats.forEach((s) => { if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId; });
  const pair = pairId && stats.get(pairId);
  if (!pair) return null;
  const pick = (c) => c && { candidateType: c.candidateType, protocol: c.protocol, address: c.address, port: c.port,
    relayProtocol: c.relayProtocol ?? null, tcpType: c.tcpType ?? null };
  return { state: pair.state, local: pick(stats.get(pair.localCandidateId)), remote: pick(stats.get(pair.remoteCandidateId)) };
}

initForm();
