/*
 * wspipe listen.js: listen to a resource as if it were a REST endpoint.
 * Served by wspipe at /wspipe/listen.js.  ISC licence, see COPYING.
 *
 *   var stop = wspipe.listen("/api/appointments", function (data, uri) {
 *     render(data);                  // JSON is parsed for you
 *   });
 *   wspipe.listen("/chat", show, {history: true});  // what is kept, too
 *   wspipe.publish("/chat", {name: "ann", text: "hi"});
 *   wspipe.ongap(function (uri, why) { ... });   // states were missed
 *   stop();                          // no more updates
 *   wspipe.listen("/sensors/*", function (data, uri) { ... });
 *                                    // every resource under /sensors/
 *
 * One WebSocket carries every subscription.  The page pings every 10 s
 * and treats 5 s of silence after a ping as a dead connection (browsers
 * cannot see WebSocket pings), then reconnects with exponential backoff
 * and jitter and resumes each subscription from the id of the last state
 * it got: the states published meanwhile come, in order and once each,
 * as far as the broker's history reaches; beyond it, ongap's callbacks
 * hear "history" (or "reset" after the broker lost its states) and the
 * listeners get the current state.  A pattern (a name ending in "*")
 * gets the current state of each resource it matches, then their new
 * ones; after a reconnect, or "behind", the current states again: a
 * listener is not called twice with one state.
 */
(function (root) {
  "use strict";

  var PING_EVERY = 10000, PING_WAIT = 5000;
  var BACKOFF_MIN = 500, BACKOFF_MAX = 30000;
  var path = typeof WSPIPE_LISTEN_PATH === "string" ?
      WSPIPE_LISTEN_PATH : "/";
  var url = null, ws = null, open = false, closing = false;
  var listeners = {};          /* uri -> array of callbacks */
  var last = {};               /* uri -> last state text received */
  var ids = {};                /* uri -> id of that state */
  var from = {};               /* uri -> "current", or "0" for history */
  var seen = {};               /* uri -> id of the state last handed out */
  var gapFns = [];
  var queue = [];              /* lines waiting for the socket */
  var statusFns = [];
  var attempt = 0, retryTimer = null, pingTimer = null, deadTimer = null;

  function endpoint() {
    if (url !== null) return url;
    var proto = root.location && root.location.protocol === "https:" ?
        "wss://" : "ws://";
    return proto + root.location.host + path;
  }

  function status(s) {
    for (var i = 0; i < statusFns.length; i++) {
      try { statusFns[i](s); } catch (e) { /* a listener's problem */ }
    }
  }

  function send(line) {
    if (open) ws.send(line);
    else queue.push(line);
  }

  function parse(text) {
    try { return JSON.parse(text); } catch (e) { return text; }
  }

  function call(fn, a, b, c) {
    try { fn(a, b, c); } catch (e) {
      setTimeout(function () { throw e; });
    }
  }

  function isPattern(uri) {
    return uri.charAt(uri.length - 1) === "*";
  }

  /* The listeners of uri, then those of each pattern that matches it. */
  function deliver(uri, id, text) {
    var fns = [], data, k;
    /* One state comes once per subscription that matches it. */
    if (seen[uri] === id) return;
    seen[uri] = id;
    if (listeners[uri]) {
      last[uri] = text;
      ids[uri] = id;
      fns = listeners[uri].slice();
    }
    for (k in listeners)
      if (Object.prototype.hasOwnProperty.call(listeners, k) &&
          isPattern(k) && uri.lastIndexOf(k.slice(0, -1), 0) === 0)
        fns = fns.concat(listeners[k]);
    if (fns.length === 0) return;
    data = parse(text);
    for (var i = 0; i < fns.length; i++) call(fns[i], data, uri, id);
  }

  /* "VERB URI REST": [uri, rest]. */
  function split(text, verb) {
    var sp = text.indexOf(" ", verb.length + 1);
    return sp < 0 ? [text.slice(verb.length + 1), ""] :
        [text.slice(verb.length + 1, sp), text.slice(sp + 1)];
  }

  /* A pattern is followed from now: its snapshot brings the rest. */
  function subscribeLine(uri) {
    return "subscribe " + uri + " " + (isPattern(uri) ? "current" :
        ids[uri] || from[uri] || "current");
  }

  function onmessage(ev) {
    var text = String(ev.data), p, q, i;
    clearTimeout(deadTimer);
    deadTimer = null;
    if (text.lastIndexOf("update ", 0) === 0) {
      /* update URI ID DATA: we always ask for ids. */
      p = split(text, "update");
      q = split("x " + p[1], "x");
      deliver(p[0], q[0], q[1]);
    } else if (text.lastIndexOf("gap ", 0) === 0) {
      p = split(text, "gap");
      if (!listeners[p[0]]) return;
      for (i = 0; i < gapFns.length; i++) call(gapFns[i], p[0], p[1]);
    } else if (text.lastIndexOf("error ", 0) === 0 && root.console) {
      root.console.warn("wspipe listen: " + text.slice(6));
    }
  }

  function heartbeat() {
    clearInterval(pingTimer);
    pingTimer = setInterval(function () {
      if (!open) return;
      ws.send("ping");
      if (deadTimer === null)
        deadTimer = setTimeout(function () {
          /* Silence: the connection is dead even if TCP has not said. */
          deadTimer = null;
          if (ws) ws.close();
          drop();
        }, PING_WAIT);
    }, PING_EVERY);
  }

  function drop() {
    var was = open;
    open = false;
    clearInterval(pingTimer);
    clearTimeout(deadTimer);
    deadTimer = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      ws = null;
    }
    if (was) status("closed");
    if (!closing) schedule();
  }

  function schedule() {
    var delay = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2, attempt));
    delay *= 0.5 + Math.random();          /* jitter: 0.5x to 1.5x */
    attempt++;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
  }

  function connect() {
    var sock;
    retryTimer = null;
    closing = false;
    try {
      sock = new WebSocket(endpoint());
    } catch (e) {
      schedule();
      return;
    }
    ws = sock;
    sock.onopen = function () {
      var uri, lines = queue;
      open = true;
      attempt = 0;
      queue = [];
      /*
       * Every subscription again, from the listeners themselves: queued
       * subscribe and unsubscribe lines are stale by now.  Each resumes
       * after the last state it got.
       */
      for (uri in listeners)
        if (Object.prototype.hasOwnProperty.call(listeners, uri))
          sock.send(subscribeLine(uri));
      for (var i = 0; i < lines.length; i++)
        if (lines[i].lastIndexOf("subscribe ", 0) !== 0 &&
            lines[i].lastIndexOf("unsubscribe ", 0) !== 0)
          sock.send(lines[i]);
      heartbeat();
      status("open");
    };
    sock.onmessage = onmessage;
    sock.onclose = drop;
    sock.onerror = function () { /* onclose follows */ };
  }

  function ensure() {
    if (ws === null && retryTimer === null) connect();
  }

  function checkUri(uri) {
    if (typeof uri !== "string" || !/^[^\s\x00-\x1f\x7f]{1,256}$/.test(uri))
      throw new Error("wspipe: bad resource name: " + uri);
  }

  var api = {
    connect: function (u) {
      url = u || null;
      if (ws) { ws.close(); drop(); } else ensure();
    },
    listen: function (uri, fn, opts) {
      checkUri(uri);
      if (!listeners[uri]) {
        listeners[uri] = [];
        delete last[uri];
        delete ids[uri];
        /* What it gets now is new to its listeners. */
        for (var k in seen)
          if (Object.prototype.hasOwnProperty.call(seen, k) &&
              (k === uri || (isPattern(uri) &&
              k.lastIndexOf(uri.slice(0, -1), 0) === 0)))
            delete seen[k];
        from[uri] = opts && opts.history ? "0" : "current";
        send(subscribeLine(uri));
      } else if (!isPattern(uri) &&
          Object.prototype.hasOwnProperty.call(last, uri)) {
        /* A late listener of a shared subscription: the state we have. */
        var text = last[uri], id = ids[uri];
        setTimeout(function () {
          if (listeners[uri] && listeners[uri].indexOf(fn) >= 0 &&
              last[uri] === text)
            call(fn, parse(text), uri, id);
        }, 0);
      }
      listeners[uri].push(fn);
      ensure();
      return function stop() {
        var fns = listeners[uri], i = fns ? fns.indexOf(fn) : -1;
        if (i < 0) return;
        fns.splice(i, 1);
        if (fns.length === 0) {
          delete listeners[uri];
          delete last[uri];
          delete ids[uri];
          delete from[uri];
          send("unsubscribe " + uri);
        }
      };
    },
    publish: function (uri, data) {
      checkUri(uri);
      var text = typeof data === "string" ? data : JSON.stringify(data);
      send("publish " + uri + " " + text.replace(/\n/g, " "));
      ensure();
    },
    onstatus: function (fn) { statusFns.push(fn); },
    ongap: function (fn) { gapFns.push(fn); },
    close: function () {
      closing = true;
      clearTimeout(retryTimer);
      retryTimer = null;
      if (ws) ws.close();
      drop();
    }
  };

  root.wspipe = api;
})(typeof window !== "undefined" ? window : this);
