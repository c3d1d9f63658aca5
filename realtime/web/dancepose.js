// The browser source of dancepose-live --serve: draws the live figure on a canvas at the browser's frame
// rate over a transparent background.  The figure's look (limbs, colours, proportions) arrives as data
// in the socket's "hello" message, from the same Python module that draws the window.
"use strict";
(() => {
  const query = new URLSearchParams(location.search);
  const flag = (name) => ["1", "true", "yes", "on"].includes((query.get(name) || "").toLowerCase());
  const colour = (name) => {
    const v = (query.get(name) || "").trim();
    if (/^#?[0-9a-fA-F]{6}$/.test(v) || /^#?[0-9a-fA-F]{3}$/.test(v)) return v.startsWith("#") ? v : "#" + v;
    return /^[a-zA-Z]{3,20}$/.test(v) ? v : null;
  };
  const line = parseFloat(query.get("line"));
  const options = {
    style: query.get("style") === "openpose" ? "openpose" : "stick",
    body: colour("body"), left: colour("left"), right: colour("right"), joint: colour("joint"),
    line: isFinite(line) && line > 0 && line < 200 ? line : null,
    mirror: flag("mirror"), hud: flag("hud"), smooth: flag("smooth"),
  };
  const canvas = document.getElementById("stage");
  const ctx = canvas.getContext("2d");
  const now = () => performance.timeOrigin + performance.now(); // ms since the epoch, like the show's clock
  // Read by tests and the benchmark (window.dancepose).
  const state = {
    options, figure: null, connected: false, frames: 0, received: 0, drawn: 0, started: performance.now(),
    current: null, previous: null, lastDrawn: -1, latencies: [], log: [], fps: 0,
  };
  window.dancepose = state;

  const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;

  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    ws.onopen = () => { state.connected = true; };
    ws.onmessage = (event) => {
      const m = JSON.parse(event.data);
      if (m.type === "hello") { state.figure = m.figure; return; }
      if (m.type !== "pose") return;
      ws.send("ack");  // flow control: the server keeps at most two poses in flight to this page
      m.arrived = performance.now();
      state.previous = state.current;
      state.current = m;
      state.received += 1;
      state.log.push([m.i, m.pose]);
      if (state.log.length > 4000) state.log.splice(0, 2000);
    };
    ws.onclose = () => { state.connected = false; setTimeout(connect, 1000); };  // the show may restart
  }

  function resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(canvas.clientWidth * dpr), h = Math.round(canvas.clientHeight * dpr);
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  }

  // The pose to draw: the newest, or (smooth=1) one show frame behind, interpolated between the last two.
  function poseNow() {
    const cur = state.current, prev = state.previous;
    if (!options.smooth || !prev) return cur.pose;
    const dt = Math.max(cur.arrived - prev.arrived, 1);
    const a = Math.min(Math.max((performance.now() - cur.arrived) / dt, 0), 1);
    return cur.pose.map((v, k) => (v === null || prev.pose[k] === null) ? v : prev.pose[k] + a * (v - prev.pose[k]));
  }

  // Body units → canvas pixels, as models/media/draw.py pose_to_pixels (plus the mirror).
  function mapper(w, h) {
    const L = state.figure.layout;
    const scale = L.figure_fill * h / L.figure_height_units, cx = 0.5 * w, cy = L.pelvis_height * h;
    return (x, y) => (x === null || y === null) ? null : [options.mirror ? w - (x * scale + cx) : x * scale + cx, y * scale + cy];
  }

  function dot(p, r, fill) {
    ctx.beginPath(); ctx.arc(p[0], p[1], r, 0, 2 * Math.PI); ctx.fillStyle = fill; ctx.fill();
  }

  function drawStick(flat, w, h) {
    const F = state.figure, S = F.stick, map = mapper(w, h);
    const pts = F.joints.map((_, j) => map(flat[2 * j], flat[2 * j + 1]));
    const fh = F.layout.figure_fill * h;
    const half = options.line ? 0.5 * options.line * (window.devicePixelRatio || 1) : Math.max(S.limb_width * fh * 0.5, 0.75);
    const colours = { body: options.body || rgb(S.body), left: options.left || rgb(S.left), right: options.right || rgb(S.right) };
    ctx.lineCap = "round"; ctx.lineWidth = 2 * half;
    for (const [a, b, side] of F.limbs) {
      if (!pts[a] || !pts[b]) continue;
      ctx.beginPath(); ctx.moveTo(pts[a][0], pts[a][1]); ctx.lineTo(pts[b][0], pts[b][1]);
      ctx.strokeStyle = colours[side]; ctx.stroke();
    }
    const jr = Math.round(S.joint_radius * fh);
    if (jr > half) pts.forEach((p, j) => { if (p && j !== F.head) dot(p, jr, options.joint || rgb(S.joint)); });
    const head = pts[F.head], neck = pts[F.neck];
    if (head) {
      const hr = Math.max(Math.round(S.head_radius * fh), 1);
      let [x, y] = head;
      if (neck) {  // the head circle sits on the neck's line, a little beyond the head joint
        const d = Math.hypot(x - neck[0], y - neck[1]);
        if (d > 1e-6) { x += (x - neck[0]) / d * S.head_offset * hr; y += (y - neck[1]) / d * S.head_offset * hr; }
      }
      dot([x, y], hr, colours.body);
    }
  }

  function drawOpenPose(flat, face, w, h) {
    const F = state.figure, O = F.openpose, map = mapper(w, h), side = Math.min(w, h);
    const pts = new Array(18).fill(null);
    for (const [k, j] of O.from_joint) pts[k] = map(flat[2 * j], flat[2 * j + 1]);
    O.face.forEach((k, n) => { pts[k] = map(face[2 * n], face[2 * n + 1]); });
    const half = options.line ? 0.5 * options.line * (window.devicePixelRatio || 1) : Math.max(O.limb_half_width * side, 1);
    O.limbs.forEach(([a, b], i) => {
      if (!pts[a] || !pts[b]) return;
      const len = Math.hypot(pts[b][0] - pts[a][0], pts[b][1] - pts[a][1]);
      if (len < 1e-6) return;
      const c = O.colours[i].map((v) => Math.floor(v * O.limb_dim));
      ctx.beginPath();
      ctx.ellipse((pts[a][0] + pts[b][0]) / 2, (pts[a][1] + pts[b][1]) / 2, len / 2, half,
                  Math.atan2(pts[b][1] - pts[a][1], pts[b][0] - pts[a][0]), 0, 2 * Math.PI);
      ctx.fillStyle = rgb(c); ctx.fill();
    });
    const r = Math.max(Math.round(O.joint_radius * side), 1);
    pts.forEach((p, k) => { if (p) dot(p, r, rgb(O.colours[k])); });
  }

  function drawHud(m, w) {
    const dpr = window.devicePixelRatio || 1, pad = 10 * dpr;
    ctx.save();
    ctx.shadowColor = "rgba(0,0,0,0.7)"; ctx.shadowBlur = 3 * dpr;  // readable over any scene behind it
    ctx.font = `${16 * dpr}px sans-serif`; ctx.textBaseline = "top"; ctx.fillStyle = "rgb(220,220,235)";
    ctx.fillText(`${state.fps.toFixed(0)} fps   ${m.bpm.toFixed(1)} BPM (${m.conf.toFixed(2)})   ${m.bpb}/4` +
                 (state.connected ? "" : "   (reconnecting)"), pad, pad);
    const on = m.conf > 0.05 ? Math.max(0, 1 - m.phase / 0.2) : 0;  // the window's beat flash
    dot([pad + 12 * dpr, pad + 42 * dpr], 10 * dpr, `rgb(${60 + 195 * on},${(60 + 195 * on) / 2 + 40},60)`);
    for (let k = 0; k < m.bpb; k++) {
      ctx.fillStyle = (m.conf > 0.05 && k === m.bib) ? "rgb(235,200,90)" : "rgb(70,70,90)";
      ctx.fillRect(pad + (4 + 14 * k) * dpr, pad + 58 * dpr, 10 * dpr, 10 * dpr);
    }
    if (m.paused) { ctx.fillStyle = "rgb(240,240,240)"; ctx.fillText("PAUSED", w / 2 - 30 * dpr, pad); }
    ctx.restore();
  }

  let fpsFrames = 0, fpsSince = performance.now();
  function frame() {
    state.frames += 1; fpsFrames += 1;
    const t = performance.now();
    if (t - fpsSince >= 500) { state.fps = fpsFrames * 1000 / (t - fpsSince); fpsFrames = 0; fpsSince = t; }
    resize();
    const w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    const m = state.current;
    if (m && state.figure) {
      const flat = poseNow();
      if (options.style === "openpose") drawOpenPose(flat, m.face, w, h); else drawStick(flat, w, h);
      if (options.hud) drawHud(m, w);
      state.drawn += 1;
      if (m.i !== state.lastDrawn) {  // the first draw of a pose: its latency from the show's display
        state.lastDrawn = m.i;
        state.latencies.push(now() - 1000 * m.t);
        if (state.latencies.length > 20000) state.latencies.splice(0, 10000);
      }
    }
    requestAnimationFrame(frame);
  }
  connect();
  requestAnimationFrame(frame);
})();
