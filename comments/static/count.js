/*! comments count.js: fills every element with data-comments-count="ARTICLE_ID" with the
 * number of published comments of that article.
 *
 * <a href="/2025/07/lavrov-kim#comments"><span data-comments-count="2025/07/lavrov-kim"></span> comments</a>
 * <script async src="https://HOST/count.js" data-site="news"></script>
 * Call window.CommentsCount.refresh() after adding elements to the page.
 * After the first fill the numbers follow new and removed comments live, over one socket
 * per page (per 100 articles); without WebSocket support they stay as first filled.
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
  var BATCH = 100; // the server answers at most 100 articles per request (and socket)
  var shown = {}; // article id -> its elements, as last refreshed
  var socks = [];
  var round = 0; // a refresh started later supersedes the sockets of earlier ones

  function refresh() {
    var nodes = document.querySelectorAll('[data-comments-count]');
    var byArticle = {};
    for (var i = 0; i < nodes.length; i++) {
      var id = nodes[i].getAttribute('data-comments-count');
      if (!id) continue;
      (byArticle[id] = byArticle[id] || []).push(nodes[i]);
    }
    shown = byArticle;
    socks.forEach(function (s) { s.stop(); });
    socks = [];
    var mine = ++round;
    var ids = Object.keys(byArticle);
    var jobs = [];
    for (var start = 0; start < ids.length; start += BATCH) {
      jobs.push(fetchCounts(ids.slice(start, start + BATCH), mine));
    }
    return Promise.all(jobs);
  }

  function query(ids) {
    return ids.map(function (id) { return 'article=' + encodeURIComponent(id); }).join('&');
  }

  function show(counts) {
    Object.keys(counts).forEach(function (id) {
      if (typeof counts[id] !== 'number' || !shown[id]) return;
      shown[id].forEach(function (node) { node.textContent = String(counts[id]); });
    });
  }

  function fetchCounts(ids, mine) {
    var url = BASE + 'api/v1/sites/' + encodeURIComponent(site) + '/counts?' + query(ids);
    return fetch(url, { credentials: 'omit' })
      .then(function (r) { return r.ok ? r.json() : { counts: {} }; })
      .then(function (data) { show(data.counts || {}); }, function () { /* leave the partner's placeholder text */ })
      .then(function () { if (window.WebSocket && mine === round) socks.push(follow(ids)); });
  }

  // One socket for these articles: sends their counts on open, then what changes. It
  // reconnects with backoff (0.5–1 s, 1–2 s, … up to a minute) and gets fresh counts.
  function follow(ids) {
    var url = BASE.replace(/^http/, 'ws') + 'ws/v1/sites/' + encodeURIComponent(site) + '/counts?' + query(ids);
    var ws = null, timer = null, tries = 0, stopped = false;
    function connect() {
      var s = ws = new WebSocket(url);
      s.onopen = function () { tries = 0; };
      s.onmessage = function (e) {
        var m;
        try { m = JSON.parse(e.data); } catch (err) { return; }
        if (m && m.type === 'counts' && m.counts) show(m.counts);
      };
      s.onclose = function () {
        if (stopped || ws !== s) return;
        var delay = Math.min(60000, 1000 * Math.pow(2, tries++));
        timer = setTimeout(connect, delay / 2 + Math.random() * delay / 2);
      };
    }
    connect();
    return {
      stop: function () {
        stopped = true;
        clearTimeout(timer);
        if (ws) ws.close();
      }
    };
  }

  window.CommentsCount = { refresh: refresh };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', refresh);
  else refresh();
})();
