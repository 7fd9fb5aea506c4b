/* The moderator console. Plain JavaScript, no build step. Comment data reaches the page
 * through textContent only: the queue is made of exactly the texts a moderator must not
 * let run. */
(function () {
  'use strict';

  var TOKEN_KEY = 'comments-moderator-token';
  var $ = function (id) { return document.getElementById(id); };

  var token = null;
  var me = null; // {site, name}
  var items = []; // queue items, in display order
  var selected = 0;
  var articles = {}; // article -> {closed, premoderated}
  var acted = {}; // ids this console decided (so their removal is not news)
  var ws = null;
  var attempts = 0;
  var retryTimer = 0;
  var refetchTimer = 0;
  var auditNext = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function ago(iso) {
    var s = (Date.now() - Date.parse(iso)) / 1000;
    if (!(s >= 0) || s < 45) return 'just now';
    var m = Math.round(s / 60);
    if (m < 60) return m + ' min ago';
    var h = Math.round(m / 60);
    if (h < 24) return h + ' h ago';
    return new Date(iso).toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
  }

  // The queue's changes, for screen readers (a polite live region of its own).
  function announce(text) {
    var live = $('queue-live');
    if (!live) return;
    live.textContent = '';
    setTimeout(function () { live.textContent = text; }, 50);
  }

  function toast(text, kind) {
    var t = $('toast');
    t.className = 'toast show ' + (kind || '');
    t.textContent = text;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.className = 'toast'; }, 4000);
  }

  // -- HTTP -------------------------------------------------------------------------------

  function call(method, path, body) {
    var headers = { Authorization: 'Bearer ' + token };
    // Every write says JSON, body or not: the server refuses other writes (415).
    if (method !== 'GET') headers['Content-Type'] = 'application/json';
    return fetch('/api/v1' + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store'
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (r.ok) return data;
        var e = new Error((data.error && data.error.message) || 'HTTP ' + r.status);
        e.status = r.status;
        e.code = data.error && data.error.code;
        e.data = data;
        if (r.status === 401) signOut('Your token is no longer valid. Sign in again.');
        throw e;
      });
    }, function () {
      var e = new Error('Could not reach the server. Check your connection.');
      e.status = 0;
      throw e;
    });
  }

  function sitePath(rest) { return '/moderation/sites/' + encodeURIComponent(me.site) + rest; }

  // -- sign-in ----------------------------------------------------------------------------

  function signIn(candidate) {
    token = candidate;
    return call('GET', '/moderation/me').then(function (who) {
      me = who;
      try { sessionStorage.setItem(TOKEN_KEY, candidate); } catch (e) { /* tab-only anyway */ }
      $('who-name').textContent = who.name;
      $('who-site').textContent = who.site;
      $('who').hidden = false;
      $('signin').hidden = true;
      $('console').hidden = false;
      $('token').value = '';
      document.title = 'Moderation · ' + who.site + ' · comments';
      // The admin part (moderation-admin.js) builds on the signed-in moderator.
      document.dispatchEvent(new CustomEvent('comments:signin', { detail: { me: who, call: call } }));
      return loadQueue().then(function () {
        connect();
        var first = $('queue').querySelector('.item');
        (first || $('tab-queue')).focus();
      });
    });
  }

  function signOut(message) {
    token = null;
    me = null;
    document.dispatchEvent(new CustomEvent('comments:signout'));
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* ignore */ }
    if (ws) { ws.onclose = null; ws.close(); ws = null; }
    clearTimeout(retryTimer);
    items = [];
    $('queue').textContent = '';
    $('who').hidden = true;
    $('console').hidden = true;
    $('signin').hidden = false;
    $('signin-error').textContent = message || '';
    $('token').focus();
  }

  $('signin-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var value = $('token').value.trim();
    if (!value) { $('signin-error').textContent = 'Paste your moderator token first.'; return; }
    $('signin-button').disabled = true;
    $('signin-error').textContent = '';
    signIn(value).catch(function (err) {
      if (err.status !== 401) $('signin-error').textContent = err.message;
      else $('signin-error').textContent = 'This token is not valid or was revoked.';
    }).then(function () { $('signin-button').disabled = false; });
  });
  $('signout').addEventListener('click', function () { signOut(''); });

  // -- the queue --------------------------------------------------------------------------

  function loadQueue() {
    return call('GET', sitePath('/queue')).then(function (data) {
      var current = items[selected] && items[selected].id;
      items = data.items || [];
      showClassifierWarning(data.classifier);
      var at = items.findIndex(function (i) { return i.id === current; });
      selected = at >= 0 ? at : Math.min(selected, Math.max(items.length - 1, 0));
      renderQueue();
    });
  }

  // The queue answer says which classifier scores (docs/api.md): warn while it is one
  // that misses whole kinds of abuse. Text only, like everything on this page.
  function showClassifierWarning(classifier) {
    var banner = $('classifier-warning');
    var warning = classifier && classifier.warning;
    banner.textContent = warning || '';
    banner.hidden = !warning;
  }

  function scheduleRefetch() {
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(function () { if (me) loadQueue().catch(function () {}); }, 250);
  }

  function scoreClass(v) { return v >= 0.8 ? 'high' : v >= 0.5 ? 'mid' : 'low'; }

  function renderItem(item, index) {
    var li = el('li', 'item');
    li.dataset.id = item.id;
    li.tabIndex = index === selected ? 0 : -1;
    li.setAttribute('aria-label', 'Comment by ' + item.author.name + ' on ' + (item.article_title || item.article));
    li.addEventListener('click', function (e) {
      if (e.target.closest('button')) return;
      select(index, true);
    });

    var head = el('div', 'item-head');
    // A shadow-banned author's comment: held for everyone but its author.
    var status = el('span', 'status ' + item.status, item.shadow ? 'Shadow-banned' : item.status === 'held' ? 'Held' : 'Reported');
    if (item.shadow) status.title = 'Its author sees it as published; nobody else sees it.';
    head.appendChild(status);
    if (item.reports) head.appendChild(el('span', 'status reports', item.reports + (item.reports === 1 ? ' report' : ' reports')));
    var who = el('span', 'author', item.author.name);
    head.appendChild(who);
    var aid = el('code', 'author-id', item.author.id);
    aid.title = 'Author id';
    head.appendChild(aid);
    var t = el('time', 'when', ago(item.created_at));
    t.dateTime = item.created_at;
    t.title = new Date(item.created_at).toLocaleString();
    head.appendChild(t);
    li.appendChild(head);

    var art = el('p', 'article');
    if (item.article_title || item.article_url) {
      // The page's title and link (docs/api.md, "Article pages"); the id stays visible.
      var name = item.article_title || item.article_url;
      var link = /^https?:\/\//i.test(item.article_url || '') ? el('a', 'article-title', name) : el('span', 'article-title', name);
      if (link.tagName === 'A') { link.href = item.article_url; link.target = '_blank'; link.rel = 'noopener noreferrer'; }
      art.appendChild(link);
      art.appendChild(el('span', 'muted', ' '));
      art.appendChild(el('code', 'article-id', item.article));
    } else {
      art.appendChild(el('span', 'muted', 'Article '));
      art.appendChild(el('span', 'article-id', item.article));
    }
    var state = articles[item.article];
    if (state && state.closed) art.appendChild(el('span', 'flag', 'closed'));
    if (state && state.premoderated) art.appendChild(el('span', 'flag', 'pre-moderated'));
    li.appendChild(art);

    li.appendChild(el('p', 'text', item.body));
    if (item.edited_at) li.appendChild(versionsOf(item));

    var labels = Object.keys(item.scores || {});
    if (labels.length) {
      var scores = el('div', 'scores');
      labels.sort(function (a, b) { return item.scores[b] - item.scores[a]; }).forEach(function (label) {
        var v = Number(item.scores[label]) || 0;
        var row = el('div', 'score');
        row.appendChild(el('span', 'label', label.replace(/_/g, ' ')));
        var bar = el('span', 'meter');
        bar.setAttribute('role', 'meter');
        bar.setAttribute('aria-valuemin', '0');
        bar.setAttribute('aria-valuemax', '1');
        bar.setAttribute('aria-valuenow', v.toFixed(2));
        bar.setAttribute('aria-label', label + ' score');
        var fill = el('span', 'fill ' + scoreClass(v));
        fill.style.width = Math.max(0, Math.min(100, v * 100)).toFixed(1) + '%';
        bar.appendChild(fill);
        row.appendChild(bar);
        row.appendChild(el('span', 'value', v.toFixed(2)));
        scores.appendChild(row);
      });
      li.appendChild(scores);
    } else {
      li.appendChild(el('p', 'muted small', 'No classifier scores.'));
    }

    if ((item.reasons || []).length) {
      var reasons = el('ul', 'reasons');
      reasons.setAttribute('aria-label', 'Reasons');
      item.reasons.forEach(function (r) { reasons.appendChild(el('li', null, r)); });
      li.appendChild(reasons);
    }

    var actions = el('div', 'actions');
    actions.appendChild(action('primary', 'Approve', 'a', function () { decide(item, 'approve'); }));
    actions.appendChild(action('danger-soft', 'Reject', 'r', function () { decide(item, 'reject'); }));
    actions.appendChild(action('ghost', 'Ban author', 'b', function () { askBan(item); }));
    actions.appendChild(el('span', 'spacer'));
    actions.appendChild(action('ghost', state && state.closed ? 'Reopen article' : 'Close article', 'c',
      function () { toggleArticle(item, 'closed'); }));
    actions.appendChild(action('ghost', state && state.premoderated ? 'Stop pre-moderating' : 'Pre-moderate article', 'p',
      function () { toggleArticle(item, 'premoderated'); }));
    li.appendChild(actions);
    return li;
  }

  // An edited comment's earlier texts, fetched when the moderator opens them.
  function versionsOf(item) {
    var box = el('details', 'versions');
    box.appendChild(el('summary', 'muted small', 'Edited ' + ago(item.edited_at) + ': earlier versions'));
    var list = el('ol', 'small');
    box.appendChild(list);
    box.addEventListener('toggle', function () {
      if (!box.open || list.childElementCount) return;
      call('GET', '/moderation/comments/' + encodeURIComponent(item.id) + '/versions').then(function (data) {
        (data.versions || []).forEach(function (v) { list.appendChild(el('li', 'text', v.body)); });
        if (!list.childElementCount) list.appendChild(el('li', 'muted', 'None kept.'));
      }, function (e) { if (e.status !== 401) toast(e.message, 'error'); });
    });
    return box;
  }

  function action(cls, text, key, onclick) {
    var b = el('button', cls, text + ' ');
    b.type = 'button';
    b.appendChild(el('kbd', null, key));
    b.setAttribute('aria-keyshortcuts', key);
    b.addEventListener('click', onclick);
    return b;
  }

  function renderQueue() {
    var list = $('queue');
    var hadFocus = list.contains(document.activeElement) && document.activeElement.classList.contains('item');
    list.textContent = '';
    items.forEach(function (item, i) {
      var li = renderItem(item, i);
      if (i === selected) li.classList.add('selected');
      li.setAttribute('aria-current', i === selected ? 'true' : 'false');
      list.appendChild(li);
    });
    $('queue-count').textContent = String(items.length);
    $('queue-empty').hidden = items.length > 0;
    if (hadFocus) focusSelected();
    items.forEach(function (item) { if (!articles[item.article]) loadArticle(item.article); });
  }

  function loadArticle(article) {
    articles[article] = { closed: false, premoderated: false };
    fetch('/api/v1/sites/' + encodeURIComponent(me.site) + '/config?article=' + encodeURIComponent(article))
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (c) {
        if (!c) return;
        var s = articles[article];
        if (s.closed !== c.closed || s.premoderated !== c.premoderated) {
          articles[article] = { closed: !!c.closed, premoderated: !!c.premoderated };
          renderQueue();
        }
      }, function () {});
  }

  function focusSelected() {
    var li = $('queue').children[selected];
    if (li) { li.focus(); li.scrollIntoView({ block: 'nearest' }); }
  }

  function select(index, focus) {
    if (!items.length) return;
    selected = Math.max(0, Math.min(items.length - 1, index));
    var kids = $('queue').children;
    for (var i = 0; i < kids.length; i++) {
      kids[i].classList.toggle('selected', i === selected);
      kids[i].setAttribute('aria-current', i === selected ? 'true' : 'false');
      kids[i].tabIndex = i === selected ? 0 : -1;
    }
    if (focus) focusSelected();
  }

  function dropItem(id) {
    var at = items.findIndex(function (i) { return i.id === id; });
    if (at < 0) return false;
    var hadFocus = document.activeElement && document.activeElement.classList.contains('item');
    items.splice(at, 1);
    if (at < selected || selected >= items.length) selected = Math.max(0, selected - (at < selected ? 1 : 0));
    selected = Math.min(selected, Math.max(items.length - 1, 0));
    renderQueue();
    if (hadFocus) focusSelected();
    return true;
  }

  var DONE = { approve: 'Approved: the comment is published.', reject: 'Rejected: readers will not see this comment.' };

  function decide(item, verb) {
    acted[item.id] = true;
    // The status this console shows: another moderator's decision may be reversed, but
    // only while the comment is still so (409 otherwise).
    return call('POST', '/moderation/comments/' + encodeURIComponent(item.id) + '/' + verb,
      { expected_status: item.status }).then(function () {
      dropItem(item.id);
      toast(DONE[verb], 'ok');
      refreshAudit();
    }, function (e) {
      if (e.status === 409) {
        dropItem(item.id);
        toast('Another moderator already decided this comment.', 'warn');
      } else if (e.status === 404) {
        dropItem(item.id);
        toast('This comment no longer exists.', 'warn');
      } else if (e.status !== 401) {
        toast(e.message, 'error');
      }
    });
  }

  function toggleArticle(item, key) {
    var state = articles[item.article] || { closed: false, premoderated: false };
    // Article-wide: confirmed first, unlike a per-comment action.
    var verb = key === 'closed' ? (state.closed ? 'Reopen' : 'Close') : (state.premoderated ? 'Stop pre-moderating' : 'Pre-moderate');
    askFirst(verb + ' the article \u201c' + (item.article_title || item.article) + '\u201d for every reader?',
      verb + ' article', function () { setArticle(item, key, state); });
  }

  // A confirmation of our own (not window.confirm): labelled, keyboard-first (Enter
  // confirms, Escape cancels) and styled like the ban dialog.
  var confirmed = null;
  function askFirst(text, label, then) {
    confirmed = then;
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = label;
    $('confirm-dialog').showModal();
    $('confirm-ok').focus();
  }
  $('confirm-cancel').addEventListener('click', function () { confirmed = null; $('confirm-dialog').close(); });
  $('confirm-dialog').addEventListener('close', function () { focusSelected(); });
  $('confirm-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var then = confirmed;
    confirmed = null;
    $('confirm-dialog').close();
    if (then) then();
  });

  function setArticle(item, key, state) {
    var body = {};
    body[key] = !state[key];
    call('PATCH', sitePath('/articles/' + encodeURIComponent(item.article)), body).then(function (r) {
      articles[item.article] = { closed: !!r.closed, premoderated: !!r.premoderated };
      renderQueue();
      toast(key === 'closed' ? (r.closed ? 'Article closed for new comments.' : 'Article reopened.')
        : (r.premoderated ? 'New comments on this article now wait for review.' : 'Pre-moderation ended for this article.'), 'ok');
      refreshAudit();
    }, function (e) { if (e.status !== 401) toast(e.message, 'error'); });
  }

  // -- ban dialog -------------------------------------------------------------------------

  var banning = null;
  function askBan(item) {
    banning = item;
    $('ban-name').textContent = item.author.name;
    var dialog = $('ban-dialog');
    dialog.showModal();
    $('ban-reason').focus();
    $('ban-reason').select();
  }
  $('ban-cancel').addEventListener('click', function () { $('ban-dialog').close(); });
  $('ban-dialog').addEventListener('close', function () { focusSelected(); });
  $('ban-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var item = banning;
    if (!item) return;
    var days = $('ban-duration').value;
    var until = days ? new Date(Date.now() + days * 86400000).toISOString() : null;
    var alsoReject = $('ban-reject').checked;
    $('ban-dialog').close();
    call('POST', sitePath('/authors/' + encodeURIComponent(item.author.id) + '/ban'),
      { reason: $('ban-reason').value, until: until }).then(function () {
      toast(item.author.name + ' is banned' + (days ? ' for ' + $('ban-duration').selectedOptions[0].textContent : '') + '.', 'ok');
      refreshAudit();
      if (alsoReject) return decide(item, 'reject');
    }, function (err) { if (err.status !== 401) toast(err.message, 'error'); });
  });

  // -- live updates -----------------------------------------------------------------------

  function setConn(state, text) {
    var c = $('conn');
    c.className = 'conn ' + state;
    c.textContent = text;
  }

  function connect() {
    clearTimeout(retryTimer);
    if (!me) return;
    setConn('connecting', attempts ? 'Reconnecting…' : 'Connecting…');
    call('POST', '/moderation/tickets').then(function (t) {
      if (!me) return;
      var proto = location.protocol === 'https:' ? 'wss://' : 'ws://';
      var sock = ws = new WebSocket(proto + location.host + '/ws/v1/moderation/sites/' +
        encodeURIComponent(me.site) + '?ticket=' + encodeURIComponent(t.ticket));
      sock.onopen = function () {
        setConn('live', 'Live');
        // Anything decided while this socket was away: the queue is the truth.
        if (attempts) loadQueue().catch(function () {});
        attempts = 0;
      };
      sock.onmessage = function (e) {
        var m;
        try { m = JSON.parse(e.data); } catch (err) { return; }
        onEvent(m);
      };
      sock.onclose = function (e) {
        if (ws !== sock) return;
        ws = null;
        // 1008: this moderator's access was revoked or changed. Ask again at once: a
        // changed role gets a new socket, a revoked token the sign-in form (401).
        if (e.code === 1008) { attempts = 0; connect(); return; }
        retry();
      };
    }, function (e) { if (e.status !== 401) retry(); });
  }

  function retry() {
    if (!me) return;
    var delay = Math.min(30000, 1000 * Math.pow(2, attempts++));
    delay = delay / 2 + Math.random() * delay / 2;
    setConn('offline', 'Reconnecting…');
    retryTimer = setTimeout(connect, delay);
  }

  function onEvent(m) {
    if (m.type === 'queue.added' && m.item) {
      if (!items.some(function (i) { return i.id === m.item.id; })) {
        items.push(m.item);
        renderQueue();
        announce('New comment to review from ' + m.item.author.name + '. ' + items.length + ' waiting.');
        toast('New comment to review from ' + m.item.author.name + '.');
      }
      scheduleRefetch(); // the server orders the queue, riskiest first
    } else if (m.type === 'queue.removed') {
      var ours = acted[m.id];
      delete acted[m.id];
      if (dropItem(m.id) && !ours) {
        toast('Another moderator decided a comment.', 'warn');
        announce('A comment left the queue. ' + items.length + ' waiting.');
      }
      refreshAudit();
    }
  }

  // -- keyboard ---------------------------------------------------------------------------

  document.addEventListener('keydown', function (e) {
    if (!me || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if ($('ban-dialog').open || $('confirm-dialog').open || (t && /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) || $('console').hidden) return;
    if ($('queue-panel').hidden) return;
    var item = items[selected];
    switch (e.key) {
      case 'j': case 'ArrowDown': select(selected + 1, true); break;
      case 'k': case 'ArrowUp': select(selected - 1, true); break;
      case 'a': if (item) decide(item, 'approve'); break;
      case 'r': if (item) decide(item, 'reject'); break;
      case 'b': if (item) askBan(item); break;
      case 'c': if (item) toggleArticle(item, 'closed'); break;
      case 'p': if (item) toggleArticle(item, 'premoderated'); break;
      case 'o': if (item && /^https?:\/\//i.test(item.article_url || '')) window.open(item.article_url, '_blank', 'noopener'); break;
      case '?': $('keys').scrollIntoView({ block: 'nearest' }); $('keys').focus(); break;
      default: return;
    }
    e.preventDefault();
  });

  // -- tabs and audit log -----------------------------------------------------------------

  function showTab(name) {
    var queue = name === 'queue';
    $('tab-queue').setAttribute('aria-selected', String(queue));
    $('tab-audit').setAttribute('aria-selected', String(!queue));
    $('tab-queue').tabIndex = queue ? 0 : -1;
    $('tab-audit').tabIndex = queue ? -1 : 0;
    $('queue-panel').hidden = !queue;
    $('audit-panel').hidden = queue;
    if (!queue) loadAudit(false);
  }
  $('tab-queue').addEventListener('click', function () { showTab('queue'); });
  $('tab-audit').addEventListener('click', function () { showTab('audit'); });
  document.querySelector('.tabs').addEventListener('keydown', function (e) {
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      var toAudit = $('tab-audit').getAttribute('aria-selected') !== 'true';
      showTab(toAudit ? 'audit' : 'queue');
      $(toAudit ? 'tab-audit' : 'tab-queue').focus();
    }
  });

  function refreshAudit() { if (me && !$('audit-panel').hidden) loadAudit(false); }

  function describe(detail) {
    if (!detail || typeof detail !== 'object') return '';
    return Object.keys(detail).filter(function (k) {
      return detail[k] !== null && detail[k] !== '' && k !== 'article_title' && k !== 'article_url';
    })
      .map(function (k) {
        var v = detail[k];
        // Ban changes carry the old and the new ban as objects.
        if (typeof v === 'object') v = '{' + describe(v).replace(/ · /g, ', ') + '}';
        return k.replace(/_/g, ' ') + ': ' + v;
      }).join(' · ');
  }

  function loadAudit(more) {
    var q = '/audit?limit=50' + (more && auditNext ? '&before=' + auditNext : '');
    return call('GET', sitePath(q)).then(function (data) {
      var body = $('audit');
      if (!more) body.textContent = '';
      (data.entries || []).forEach(function (entry) {
        var tr = el('tr');
        var when = el('td');
        var t = el('time', null, ago(entry.at));
        t.dateTime = entry.at;
        t.title = new Date(entry.at).toLocaleString();
        when.appendChild(t);
        tr.appendChild(when);
        tr.appendChild(el('td', null, entry.moderator));
        var act = el('td');
        act.appendChild(el('span', 'action ' + entry.action, entry.action));
        tr.appendChild(act);
        var target = el('td', 'target', entry.target);
        // docs/api.md: "about" names what the target is (excerpt, article title).
        var about = entry.about;
        if (about && about.excerpt) target.appendChild(el('div', 'about muted', '“' + about.excerpt + '”'));
        var page = entry.detail || {};
        if (page.article_title || page.article_url) {
          // The article decided on, by its title, linked to its page where known.
          var name = page.article_title || page.article_url;
          var link = /^https?:\/\//i.test(page.article_url || '') ? el('a', 'article-title', name) : el('span', 'article-title', name);
          if (link.tagName === 'A') { link.href = page.article_url; link.target = '_blank'; link.rel = 'noopener noreferrer'; }
          target.appendChild(el('br'));
          target.appendChild(link);
        } else if (about && (about.title || about.article)) {
          target.appendChild(el('div', 'about muted', about.title || about.article));
        }
        tr.appendChild(target);
        tr.appendChild(el('td', 'muted', describe(entry.detail)));
        body.appendChild(tr);
      });
      auditNext = data.next;
      $('audit-more').hidden = data.next == null;
      $('audit-empty').hidden = body.children.length > 0;
    }, function (e) { if (e.status !== 401) toast(e.message, 'error'); });
  }
  $('audit-more').addEventListener('click', function () { loadAudit(true); });

  setInterval(function () {
    var times = document.querySelectorAll('time[datetime]');
    for (var i = 0; i < times.length; i++) times[i].textContent = ago(times[i].dateTime);
  }, 30000);

  // -- start ------------------------------------------------------------------------------

  var saved = null;
  try { saved = sessionStorage.getItem(TOKEN_KEY); } catch (e) { /* ignore */ }
  if (saved) {
    signIn(saved).catch(function (e) { if (e.status !== 401) signOut(e.message); });
  } else {
    $('token').focus();
  }
})();
