/* The console's panels beside the queue: search and takedown (with bulk actions), the
 * ban list, and a drawer with an item's thread context or its author's record and notes
 * (docs/api.md: …/comments?q=, …/bans, …/comments/{id}/context, …/authors/{id}).
 * Public endpoints only; comment data reaches the page through textContent only. */
(function () {
  'use strict';

  var TOKEN_KEY = 'comments-moderator-token';
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function button(text, label, onclick) {
    var b = el('button', 'ghost', text);
    b.type = 'button';
    if (label) b.setAttribute('aria-label', label);
    b.addEventListener('click', onclick);
    return b;
  }
  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
  }
  function site() { return ($('who-site') && $('who-site').textContent) || ''; }
  function api(method, path, body) {
    var headers = { Authorization: 'Bearer ' + token() };
    var init = { method: method, headers: headers };
    if (method !== 'GET') {
      headers['Content-Type'] = 'application/json';
      if (body !== undefined) init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw new Error((data.error && data.error.message) || ('HTTP ' + r.status));
        return data;
      });
    });
  }
  function sitePath(rest) { return '/api/v1/moderation/sites/' + encodeURIComponent(site()) + rest; }
  function say(text) { var t = $('panels-status'); if (t) t.textContent = text; }

  // -- drawer: context and author --------------------------------------------------------

  function line(item, extra) {
    var li = el('li', 'mini');
    li.appendChild(el('span', 'status ' + item.status, item.status));
    li.appendChild(el('span', 'author', ' ' + item.author.name + ': '));
    li.appendChild(el('span', 'text', item.body));
    if (extra) li.appendChild(el('span', 'muted', ' ' + extra));
    return li;
  }

  function openDrawer(title) {
    var d = $('drawer');
    d.hidden = false;
    $('drawer-title').textContent = title;
    var body = $('drawer-body');
    body.textContent = '';
    return body;
  }

  function showContext(id) {
    var body = openDrawer('Thread context');
    api('GET', '/api/v1/moderation/comments/' + encodeURIComponent(id) + '/context').then(function (c) {
      var a = c.article;
      var head = el('p', 'article');
      head.appendChild(el('span', 'muted', 'Article '));
      if (a.url) { var link = el('a', null, a.title || a.article); link.href = a.url; link.rel = 'noopener'; head.appendChild(link); }
      else head.appendChild(el('span', 'article-id', a.title || a.article));
      head.appendChild(el('span', 'muted', ' · ' + a.published + ' published' + (a.closed ? ' · closed' : '') + (a.premoderated ? ' · pre-moderated' : '')));
      body.appendChild(head);
      var list = el('ol', 'thread');
      list.setAttribute('aria-label', 'Thread');
      if (c.parent) list.appendChild(line(c.parent, '(replied to)'));
      c.before.forEach(function (i) { list.appendChild(line(i)); });
      var self = line(c.comment, '(this comment)');
      self.classList.add('current');
      list.appendChild(self);
      body.appendChild(list);
    }).catch(function (e) { body.textContent = e.message; });
  }

  function showAuthor(authorId) {
    var body = openDrawer('Author');
    var path = sitePath('/authors/' + encodeURIComponent(authorId));
    api('GET', path).then(function (r) { renderAuthor(body, r.author, path); })
      .catch(function (e) { body.textContent = e.message; });
  }

  function renderAuthor(body, a, path) {
    body.textContent = '';
    body.appendChild(el('h3', null, a.name));
    body.appendChild(el('p', 'muted', a.kind + ' · first seen ' + new Date(a.first_seen).toLocaleString() + ' · ' + a.id));
    var c = a.counts;
    body.appendChild(el('p', 'counts', c.published + ' published · ' + c.held + ' held · ' + c.rejected + ' rejected · ' + c.reported + ' reported'));
    var ban = el('p', 'ban-state', a.banned ? 'Banned: ' + (a.ban.reason || 'no reason') + (a.ban.until ? ' until ' + a.ban.until : '') : 'Not banned');
    if (a.banned) {
      ban.appendChild(button('Lift ban', 'Lift the ban of ' + a.name, function () {
        api('DELETE', path + '/ban').then(function () { say('Ban lifted'); showAuthor(a.id); loadBans(); })
          .catch(function (e) { say(e.message); });
      }));
    }
    body.appendChild(ban);
    var hist = el('ol', 'history');
    hist.setAttribute('aria-label', 'Last comments');
    a.comments.forEach(function (i) {
      hist.appendChild(line(i, i.decision ? '(' + i.decision.action + ' by ' + i.decision.moderator + ')' : ''));
    });
    body.appendChild(hist);
    var notes = el('ul', 'notes');
    notes.setAttribute('aria-label', 'Notes');
    a.notes.forEach(function (n) { notes.appendChild(el('li', 'note', n.body + ' — ' + n.moderator)); });
    body.appendChild(notes);
    var form = el('form', 'note-form');
    var input = el('input');
    input.id = 'note-input';
    input.maxLength = 2000;
    input.setAttribute('aria-label', 'New note on this author');
    form.appendChild(input);
    var add = el('button', 'primary', 'Add note');
    add.type = 'submit';
    form.appendChild(add);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (!input.value.trim()) return;
      api('POST', path + '/notes', { body: input.value }).then(function (r) { renderAuthor(body, r.author, path); })
        .catch(function (err) { say(err.message); });
    });
    body.appendChild(form);
  }

  function itemTools(id, authorId) {
    var tools = el('div', 'item-tools');
    tools.appendChild(button('Context', 'Show the thread around this comment', function () { showContext(id); }));
    tools.appendChild(button('Author', 'Show this author', function () { showAuthor(authorId); }));
    return tools;
  }

  // Queue items (rendered by moderation.js) get their own Context and Author buttons.
  function decorate(root) {
    root.querySelectorAll('li.item').forEach(function (li) {
      if (li.querySelector('.item-tools')) return;
      var aid = li.querySelector('.author-id');
      li.appendChild(itemTools(li.dataset.id, aid ? aid.textContent : ''));
    });
  }

  // -- search and takedown ---------------------------------------------------------------

  var searchNext = null;

  function search(more) {
    var params = new URLSearchParams();
    var q = $('search-q').value.trim();
    if (q) params.set('q', q);
    if ($('search-status').value) params.set('status', $('search-status').value);
    if (more && searchNext) params.set('cursor', searchNext);
    api('GET', sitePath('/comments?' + params.toString())).then(function (r) {
      var list = $('search-results');
      if (!more) list.textContent = '';
      r.items.forEach(function (i) { list.appendChild(result(i)); });
      searchNext = r.next;
      $('search-more').hidden = !r.next;
      say(list.children.length ? list.children.length + ' found' : 'Nothing found');
    }).catch(function (e) { say(e.message); });
  }

  function result(item) {
    var li = el('li', 'item result');
    li.dataset.id = item.id;
    var pick = el('input');
    pick.type = 'checkbox';
    pick.className = 'pick';
    pick.setAttribute('aria-label', 'Select comment by ' + item.author.name);
    li.appendChild(pick);
    var status = el('span', 'status ' + item.status, item.status);
    li.appendChild(status);
    li.appendChild(el('span', 'author', ' ' + item.author.name + ' '));
    li.appendChild(el('span', 'article-id', item.article));
    li.appendChild(el('p', 'text', item.body));
    li.appendChild(button('Reject', 'Reject this comment', function () { act('reject', li, status); }));
    li.appendChild(button('Approve', 'Approve this comment', function () { act('approve', li, status); }));
    li.appendChild(itemTools(item.id, item.author.id));
    return li;
  }

  function act(action, li, status) {
    return api('POST', '/api/v1/moderation/comments/' + encodeURIComponent(li.dataset.id) + '/' + action)
      .then(function (r) { status.textContent = r.comment.status; status.className = 'status ' + r.comment.status; })
      .catch(function (e) { say(e.message); });
  }

  // One request (and so one audit entry) per selected comment.
  function bulk(action) {
    var picked = Array.prototype.filter.call($('search-results').querySelectorAll('li.result'), function (li) {
      return li.querySelector('.pick').checked;
    });
    Promise.all(picked.map(function (li) { return act(action, li, li.querySelector('.status')); }))
      .then(function () { say(picked.length + ' ' + action + (action === 'approve' ? 'd' : 'ed')); });
  }

  // -- ban list --------------------------------------------------------------------------

  function loadBans() {
    if (!site()) return;
    api('GET', sitePath('/bans')).then(function (r) {
      var list = $('ban-list');
      list.textContent = '';
      r.bans.forEach(function (b) {
        var li = el('li', 'ban');
        li.dataset.author = b.author;
        li.appendChild(el('span', 'author', b.name + ' '));
        li.appendChild(el('span', 'muted', (b.reason || '') + (b.until ? ' · until ' + b.until : ' · permanent') + ' · by ' + (b.by || '?')));
        li.appendChild(button('Lift', 'Lift the ban of ' + b.name, function () {
          api('DELETE', sitePath('/authors/' + encodeURIComponent(b.author) + '/ban'))
            .then(function () { say('Ban of ' + b.name + ' lifted'); loadBans(); })
            .catch(function (e) { say(e.message); });
        }));
        list.appendChild(li);
      });
      $('bans-empty').hidden = r.bans.length > 0;
    }).catch(function (e) { say(e.message); });
  }

  function init() {
    var queue = $('queue');
    if (queue) new MutationObserver(function () { decorate(queue); }).observe(queue, { childList: true, subtree: true });
    $('search-form').addEventListener('submit', function (e) { e.preventDefault(); search(false); });
    $('search-more').addEventListener('click', function () { search(true); });
    $('bulk-reject').addEventListener('click', function () { bulk('reject'); });
    $('bulk-approve').addEventListener('click', function () { bulk('approve'); });
    $('bans-load').addEventListener('click', loadBans);
    $('drawer-close').addEventListener('click', function () { $('drawer').hidden = true; });
  }
  init();
})();
