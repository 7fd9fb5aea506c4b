/*! comments count.js: fills every element with data-comments-count="ARTICLE_ID" with the
 * number of published comments of that article.
 *
 * <a href="/2025/07/lavrov-kim#comments"><span data-comments-count="2025/07/lavrov-kim"></span> comments</a>
 * <script async src="https://HOST/count.js" data-site="news"></script>
 * Call window.CommentsCount.refresh() after adding elements to the page.
 */
(function () {
  'use strict';

  var script = document.currentScript;
  if (!script || !/count\.js/.test(script.src)) {
    var tags = document.querySelectorAll('script[src*="count.js"]');
    script = tags[tags.length - 1];
  }
  if (!script) return;
  var BASE = script.src.replace(/count\.js([?#].*)?$/, '');
  var site = script.dataset.site || '';
  var BATCH = 100; // the server answers at most 100 articles per request

  function refresh() {
    var nodes = document.querySelectorAll('[data-comments-count]');
    var byArticle = {};
    for (var i = 0; i < nodes.length; i++) {
      var id = nodes[i].getAttribute('data-comments-count');
      if (!id) continue;
      (byArticle[id] = byArticle[id] || []).push(nodes[i]);
    }
    var ids = Object.keys(byArticle);
    var jobs = [];
    for (var start = 0; start < ids.length; start += BATCH) {
      jobs.push(fetchCounts(ids.slice(start, start + BATCH), byArticle));
    }
    return Promise.all(jobs);
  }

  function fetchCounts(ids, byArticle) {
    var query = ids.map(function (id) { return 'article=' + encodeURIComponent(id); }).join('&');
    var url = BASE + 'api/v1/sites/' + encodeURIComponent(site) + '/counts?' + query;
    return fetch(url, { credentials: 'omit' })
      .then(function (r) { return r.ok ? r.json() : { counts: {} }; })
      .then(function (data) {
        var counts = data.counts || {};
        ids.forEach(function (id) {
          if (typeof counts[id] !== 'number') return;
          byArticle[id].forEach(function (node) { node.textContent = String(counts[id]); });
        });
      }, function () { /* leave the partner's placeholder text */ });
  }

  window.CommentsCount = { refresh: refresh };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', refresh);
  else refresh();
})();
