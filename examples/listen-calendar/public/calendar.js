/* listen-calendar: the shared appointments calendar of the Listen JS thesis.
 * The calendar is the resource /api/appointments: GET it like a REST
 * endpoint, POST to change it, and wspipe.listen() it to get every new
 * version as soon as anyone changes it. */
(function () {
  "use strict";
  var URI = "/api/appointments";
  var current = { rev: -1, epoch: null };
  var shown = null;                   /* ids on screen, to highlight new ones */
  var box = document.getElementById("calendar");
  var form = document.getElementById("add");
  var errorBox = document.getElementById("error");
  var statusBox = document.getElementById("status");
  var titleField = document.getElementById("title");

  document.getElementById("date").value = new Date().toISOString().slice(0, 10);

  /* The listener and the first GET race; the newest revision wins. */
  function apply(cal) {
    if (!cal || !Array.isArray(cal.appointments)) return;
    if (cal.epoch === current.epoch && cal.rev <= current.rev) return;
    current = cal;
    render(cal.appointments);
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;     /* never innerHTML */
    return e;
  }

  function render(list) {
    var ids = {}, day = null, ul = null;
    box.textContent = "";
    if (list.length === 0) box.appendChild(el("p", null, "No appointments yet."));
    list.forEach(function (a) {
      if (a.date !== day) {
        day = a.date;
        var d = new Date(a.date + "T00:00:00");
        box.appendChild(el("h2", null, isNaN(d) ? a.date : d.toLocaleDateString(undefined,
          { weekday: "long", year: "numeric", month: "long", day: "numeric" })));
        ul = box.appendChild(el("ul", "day"));
      }
      var li = el("li");
      li.dataset.id = a.id;
      li.appendChild(el("span", "time", a.time || "—"));
      li.appendChild(el("span", "title", a.title));
      li.appendChild(el("span", "who", a.who || ""));
      var del = el("button", "del", "✕");
      del.title = "remove";
      del.addEventListener("click", function () { post({ action: "delete", id: a.id }); });
      li.appendChild(del);
      if (shown && !shown[a.id]) {
        li.classList.add("new");
        setTimeout(function () { li.classList.remove("new"); }, 50);
      }
      ul.appendChild(li);
      ids[a.id] = true;
    });
    shown = ids;
  }

  function post(fields) {
    errorBox.textContent = "";
    return fetch(URI, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded",
                 "Accept": "application/json" },
      body: new URLSearchParams(fields).toString()
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || r.statusText);
        apply(body);                  /* our own change, even if the push is late */
      });
    }).catch(function (e) { errorBox.textContent = "Not saved: " + e.message; });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var fields = {};
    new FormData(form).forEach(function (v, k) { fields[k] = v; });
    post(fields).then(function () {
      if (!errorBox.textContent) { titleField.value = ""; titleField.focus(); }
    });
  });

  wspipe.onstatus(function (s) {
    statusBox.textContent = s === "open" ? "live" : "reconnecting…";
    statusBox.className = s;
  });
  wspipe.listen(URI, apply);
  /* First paint even when nothing has been published since the broker started. */
  fetch(URI, { headers: { Accept: "application/json" } })
    .then(function (r) { return r.json(); }).then(apply).catch(function () {});
})();
