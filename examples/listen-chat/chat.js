/* listen-chat: the resource /chat holds the latest message, {name, text, at}.
 * Every page listens to it and publishes to it; wspipe and its broker do the
 * fan-out, so there is no chat program at all. */
(function () {
  "use strict";
  var list = document.getElementById("messages");
  var form = document.getElementById("form");
  var nameField = document.getElementById("name");
  var textField = document.getElementById("text");
  var statusBox = document.getElementById("status");
  var seen = {};            /* a reconnect delivers the current state again */

  nameField.value = localStorage.getItem("chat-name") || "";

  wspipe.onstatus(function (s) {
    statusBox.textContent = s === "open" ? "connected" : "reconnecting…";
    statusBox.className = s;
  });

  wspipe.listen("/chat", function (msg) {
    if (!msg || typeof msg !== "object" || typeof msg.text !== "string") return;
    var key = msg.at + "\n" + msg.name + "\n" + msg.text;
    if (seen[key]) return;
    seen[key] = true;
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
  });

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
