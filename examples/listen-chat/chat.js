/* listen-chat: each state of the resource /chat is a message, {name, text,
 * at}. Every page listens to it and publishes to it; wspipe and its broker
 * do the fan-out, so there is no chat program at all. The broker keeps the
 * last messages (run.sh: --history=100): a page that opens gets them, and
 * one whose connection drops, or whose gateway restarts, resumes after the
 * last message it showed, losing none and showing none twice. */
(function () {
  "use strict";
  var list = document.getElementById("messages");
  var form = document.getElementById("form");
  var nameField = document.getElementById("name");
  var textField = document.getElementById("text");
  var statusBox = document.getElementById("status");

  nameField.value = localStorage.getItem("chat-name") || "";

  wspipe.onstatus(function (s) {
    statusBox.textContent = s === "open" ? "connected" : "reconnecting…";
    statusBox.className = s;
  });

  /* States were missed: older than the broker keeps, or it restarted. */
  wspipe.ongap(function (uri, why) {
    var li = document.createElement("li");
    li.className = "gap";
    li.textContent = why === "reset" ? "… the server restarted; earlier " +
        "messages are gone" : "… some messages were missed";
    list.appendChild(li);
  });

  wspipe.listen("/chat", function (msg) {
    if (!msg || typeof msg !== "object" || typeof msg.text !== "string") return;
    var li = document.createElement("li");
    var who = document.createElement("span");
    var when = document.createElement("span");
    who.className = "name";
    who.textContent = String(msg.name || "anonymous");   /* never innerHTML */
    when.className = "at";
    when.textContent = new Date(msg.at).toLocaleTimeString();
    li.appendChild(when);
    li.appendChild(who);
    li.appendChild(document.createTextNode(msg.text));
    if (msg.name === nameField.value.trim()) li.className = "mine";
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
  }, { history: true });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var name = nameField.value.trim(), text = textField.value.trim();
    if (!name || !text) return;
    localStorage.setItem("chat-name", name);
    wspipe.publish("/chat", { name: name, text: text, at: Date.now() });
    textField.value = "";
    textField.focus();
  });
})();
