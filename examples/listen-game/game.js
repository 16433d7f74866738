/* listen-game: each tab is a player. Commands go up as plain text, published
 * to the resource /game/in (`join ID NAME`, `move ID DX DY`, `leave ID`);
 * server.py applies them and publishes the whole game as JSON to
 * /game/state, which wspipe fans out to every tab. A tab that falls behind
 * gets the newest state only, which is all it needs: it draws the game as it
 * is. window.gameState (the last state) and window.gameId are there for
 * tests and the console. */
(function () {
  "use strict";
  var IN = "/game/in", STEP = 10, TICK = 50, RADIUS = 18, KEEPALIVE = 10000;
  var KEYS = { ArrowLeft: [-1, 0], a: [-1, 0], ArrowRight: [1, 0], d: [1, 0],
               ArrowUp: [0, -1], w: [0, -1], ArrowDown: [0, 1], s: [0, 1] };
  var canvas = document.getElementById("world"), g = canvas.getContext("2d");
  var statusBox = document.getElementById("status");
  var info = document.getElementById("info");
  var list = document.getElementById("players");
  var nameField = document.getElementById("name");
  var id = "p" + Math.random().toString(36).slice(2, 10);
  var connected = false, lastJoin = 0, held = {}, target = null, state = null;
  window.gameId = id;
  window.gameState = null;
  nameField.value = localStorage.getItem("game-name") || "";

  /* Nothing is queued while the connection is down: stale moves are no use. */
  function send(cmd) { if (connected) wspipe.publish(IN, cmd); }
  function join() {
    lastJoin = Date.now();
    send("join " + id + " " + nameField.value.replace(/\s+/g, " ").trim());
  }
  function move(dx, dy) { if (dx || dy) send("move " + id + " " + dx + " " + dy); }
  function heldDir() {
    var dx = 0, dy = 0;
    for (var k in held) { dx += held[k][0]; dy += held[k][1]; }
    return [Math.sign(dx) * STEP, Math.sign(dy) * STEP];
  }

  wspipe.onstatus(function (s) {
    connected = s === "open";
    statusBox.textContent = connected ? "connected" : "reconnecting…";
    statusBox.className = s;
    if (connected) join();
  });

  wspipe.listen("/game/state", function (s) {
    if (!s || typeof s !== "object" || !s.players || typeof s.players !== "object") return;
    state = window.gameState = s;
    draw();
  });

  /* Keys: a move at once on each press, then every TICK while held. */
  function keyOf(e) { return e.key && e.key.length === 1 ? e.key.toLowerCase() : e.key; }
  document.addEventListener("keydown", function (e) {
    var k = keyOf(e);
    if (!KEYS[k] || e.target === nameField || e.ctrlKey || e.metaKey || e.altKey) return;
    e.preventDefault();
    target = null;
    if (held[k]) return;
    held[k] = KEYS[k];
    var d = heldDir();
    move(d[0], d[1]);
  });
  document.addEventListener("keyup", function (e) { delete held[keyOf(e)]; });
  window.addEventListener("blur", function () { held = {}; });

  /* Clicking or tapping: head for that point (and follow a dragging finger). */
  function aim(e) {
    var r = canvas.getBoundingClientRect(), w = (state && state.world) || 1000;
    target = { x: (e.clientX - r.left) / r.width * w, y: (e.clientY - r.top) / r.height * w };
  }
  canvas.addEventListener("pointerdown", function (e) {
    aim(e);
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener("pointermove", function (e) { if (e.buttons) aim(e); });

  setInterval(function () {
    var now = Date.now(), me = state && state.players[id], d = heldDir();
    /* Keep alive; join again if the server forgot us (it restarted). */
    if (now - lastJoin > KEEPALIVE || (state && !me && now - lastJoin > 2000)) join();
    if (d[0] || d[1]) return move(d[0], d[1]);
    if (!target || !me) return;
    var dx = target.x - me.x, dy = target.y - me.y, len = Math.hypot(dx, dy);
    if (len <= STEP) target = null;                 /* the last step */
    var k = Math.min(1, STEP / len) || 0;
    move(Math.round(dx * k * 10) / 10, Math.round(dy * k * 10) / 10);
  }, TICK);

  document.getElementById("form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    localStorage.setItem("game-name", nameField.value.trim());
    join();
    nameField.blur();                               /* the keys move again */
  });
  window.addEventListener("pagehide", function () { send("leave " + id); });
  window.addEventListener("resize", function () { if (state) draw(); });

  function draw() {
    var world = state.world || 1000, px = canvas.clientWidth * (window.devicePixelRatio || 1);
    if (px && canvas.width !== Math.round(px)) canvas.width = canvas.height = Math.round(px);
    var k = canvas.width / world, ids = Object.keys(state.players).sort(), i, p;
    g.clearRect(0, 0, canvas.width, canvas.height);
    g.strokeStyle = "#e5e7eb";
    g.lineWidth = 1;
    for (i = 100; i < world; i += 100) {
      g.beginPath();
      g.moveTo(i * k, 0); g.lineTo(i * k, canvas.height);
      g.moveTo(0, i * k); g.lineTo(canvas.width, i * k);
      g.stroke();
    }
    g.textAlign = "center";
    g.font = Math.round(13 * k * 1.6) + "px system-ui, sans-serif";
    while (list.firstChild) list.removeChild(list.firstChild);
    for (i = 0; i < ids.length; i++) {
      p = state.players[ids[i]];
      g.beginPath();
      g.arc(p.x * k, p.y * k, RADIUS * k, 0, 2 * Math.PI);
      g.fillStyle = String(p.color);
      g.fill();
      if (ids[i] === id) { g.lineWidth = 3; g.strokeStyle = "#111"; g.stroke(); }
      g.fillStyle = "#111";
      g.fillText(String(p.name), p.x * k, (p.y + RADIUS) * k + 16 * k * 1.6);   /* text, not HTML */
      var li = document.createElement("li"), dot = document.createElement("span");
      dot.className = "dot";
      dot.style.background = String(p.color);
      li.appendChild(dot);
      li.appendChild(document.createTextNode(String(p.name) + (ids[i] === id ? " (you)" : "")));
      if (ids[i] === id) li.className = "me";
      list.appendChild(li);
    }
    info.textContent = ids.length + (ids.length === 1 ? " player" : " players");
  }
})();
