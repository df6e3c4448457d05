// Sets the colour theme before the page paints: the saved choice, else
// the system's.
(function () {
  var t = null;
  try { t = localStorage.getItem("sluice-theme"); } catch (e) {}
  if (t !== "light" && t !== "dark") {
    t = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  document.documentElement.setAttribute("data-theme", t);
})();
