/* The Jupyter widgets HTML manager (ipywidgets 8) typesets labels with MathJax 2's `MathJax.Hub.Queue`; the site
   serves MathJax 3. Give the widgets a MathJax 2-style entry point that forwards to MathJax 3's typesetPromise.
   Loaded with `defer`: it runs after Sphinx's inline MathJax config and before MathJax itself, and puts the entry
   point back once MathJax 3 has replaced window.MathJax with its own object. */
(function () {
  function install() {
    var M = window.MathJax = window.MathJax || {};
    if (M.Hub && M.Hub.Queue) return;
    M.Hub = { Queue: function () {
      var els = Array.prototype.slice.call(arguments).map(function (a) { return a && a[2]; }).filter(Boolean);
      var M3 = window.MathJax;
      if (M3 && M3.typesetPromise && els.length) M3.typesetPromise(els).catch(function () {});
    } };
  }
  install();
  var cfg = window.MathJax, startup = cfg.startup = cfg.startup || {}, ready = startup.ready;
  startup.ready = function () {
    if (ready) ready(); else window.MathJax.startup.defaultReady();
    install();
  };
})();
