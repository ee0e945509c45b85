// Starts Redoc on /api/redoc/ (templates/api/redoc.html). The nonce lets the Content-Security-
// Policy accept the <style> elements Redoc creates; the page's own fonts replace web fonts.
(() => {
  "use strict";
  const container = document.getElementById("redoc-container");
  window.Redoc.init(container.dataset.specUrl, {
    nonce: container.dataset.nonce,
    theme: { typography: { fontFamily: "system-ui, sans-serif", headings: { fontFamily: "system-ui, sans-serif" } } },
  }, container);
})();
