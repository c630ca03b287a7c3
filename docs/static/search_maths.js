/* Search results quote each page's text, where maths is still TeX (\(x\), \[x\]): typeset the quotes with the
   site's MathJax, loaded on demand (a formula cut off at either end of a quote is dropped). Acts on search.html only. */
(function () {
  var results = document.getElementById('search-results');
  if (!results) return;
  var loading = null;
  function mathjax() {
    if (!loading) loading = new Promise(function (resolve) {
      var script = document.createElement('script');
      script.src = document.documentElement.dataset.content_root + '_static/vendor/mathjax/es5/tex-chtml.js';
      script.onload = function () { window.MathJax.startup.promise.then(resolve); };
      document.head.appendChild(script);
    });
    return loading;
  }
  function tidy(quote) {          // true when the quote holds maths
    var text = quote.textContent;
    if (!/\\[()\[\]]/.test(text)) return false;      // no maths: keep Sphinx's highlighting of the search words
    var open = text.search(/\\[(\[]/), close = text.search(/\\[)\]]/);
    if (close > -1 && (open < 0 || close < open)) text = '…' + text.slice(close + 2);
    text = text.replace(/\\[(\[](?![\s\S]*\\[)\]])[\s\S]*$/, '…');
    quote.textContent = text;
    return /\\[(\[]/.test(text);
  }
  new MutationObserver(function () {
    var quotes = [].filter.call(results.querySelectorAll('p.context:not([data-maths])'), function (quote) {
      quote.setAttribute('data-maths', '');
      return tidy(quote);
    });
    if (quotes.length) mathjax().then(function () { return window.MathJax.typesetPromise(quotes); });
  }).observe(results, {childList: true, subtree: true});
})();
