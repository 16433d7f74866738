// client.js — Example 3 chat client.
// Fixed from the talk: querySelector needs `document` as `this` (bind it),
// the input element is `inputElem` (there was no `input`), the stray closing
// brace is gone, post_chat_message actually shows the line, and the
// WebSocket goes to the host the page came from (wss:// under https://).
var qs = document.querySelector.bind(document);
var inputElem = qs('#input');
var chatAreaElem = qs('#chat');
var sendElem = qs('#send');
var post_chat_message = function(text, className) {
    var line = document.createElement('div');
    line.className = 'line' + (className ? ' ' + className : '');
    line.textContent = text;            // text, never HTML
    chatAreaElem.appendChild(line);
    chatAreaElem.scrollTop = chatAreaElem.scrollHeight;
};

var scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
var ws = new WebSocket(scheme + location.host + '/', 'ex3');
ws.onopen = function(event) {
    var sendFunc = function() {
        if (inputElem.value === '') { return; }
        ws.send(inputElem.value); inputElem.value = '';
    };
    sendElem.disabled = false;
    sendElem.addEventListener('click', sendFunc);
    inputElem.addEventListener('keydown', function(event) {
        if (event.key === 'Enter') { sendFunc(); }
    });
    inputElem.focus();
};
ws.onmessage = function(event) { post_chat_message(event.data); };
ws.onclose = function(event) {
    sendElem.disabled = true;
    post_chat_message('Connection closed.', 'event');
};
