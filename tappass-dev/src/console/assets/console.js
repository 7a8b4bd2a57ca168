// The TapPass dev console: reloads a page whose <body> has data-refresh="SECONDS"
// while it is visible and the reader is not selecting text. The pages work
// without it.
(function () {
  "use strict";
  var seconds = Number(document.body.getAttribute("data-refresh"));
  if (!(seconds > 0)) {
    return;
  }
  window.setInterval(function () {
    var selection = window.getSelection();
    if (document.hidden || (selection && selection.toString() !== "")) {
      return;
    }
    window.location.reload();
  }, seconds * 1000);
})();
