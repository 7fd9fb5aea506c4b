/*! comments embed.js: a live comment thread for partner pages.
 * Plain JavaScript, no framework, no build step. Everything readers typed reaches the
 * page through textContent only, never as HTML.
 *
 * <div id="comments"></div>
 * <script async src="https://HOST/embed.js" data-site="news" data-article="ID"></script>
 * Optional: data-target (CSS selector, default #comments), data-sso-token (JWT),
 * data-theme (auto | light | dark), data-login-url (shown when signing in is required).
 * API: window.Comments.login(jwt), window.Comments.logout().
 * Orders: Newest (the site's default_order unless it says otherwise), Oldest, Top; the
 * reader's pick lasts the page session (sessionStorage).
 */
(function () {
  'use strict';

  var script = document.currentScript;
  if (!script || !/embed\.js/.test(script.src)) {
    var tags = document.querySelectorAll('script[src*="embed.js"]');
    script = tags[tags.length - 1];
  }
  if (!script) return;

  var BASE = script.src.replace(/embed\.js([?#].*)?$/, '');
  var WS_BASE = BASE.replace(/^http/, 'ws');
  var CAP = 3; // deepest indentation level (the site's reply_depth); deeper replies stay there
  var COLLAPSE_AT = 5; // a reply list longer than this shows its first SHOW_FIRST only
  var SHOW_FIRST = 3;
  var CONTEXT = 25; // comments either side of a permalinked one
  var LINK_SHOWN = 60; // longer links are shortened on screen (the whole URL in title)
  var PAGE = 50;
  var ORDERS = { newest: 'Newest', oldest: 'Oldest', top: 'Top' };
  var BODY_MAX = 5000;
  var NAME_MAX = 64;

  var CSS = [
    ':host{display:block}',
    '.c-root{--fg:var(--comments-fg,#1d2329);--muted:var(--comments-muted,#5c6670);',
    '--bg:var(--comments-bg,#fff);--surface:var(--comments-surface,#f4f6f8);',
    '--border:var(--comments-border,#dde2e7);--accent:var(--comments-accent,#1c5fd1);',
    '--accent-fg:var(--comments-accent-fg,#fff);--danger:var(--comments-danger,#b42318);',
    '--warn-bg:var(--comments-warn-bg,#fff4d6);--warn:var(--comments-warn,#7a4b00);',
    '--ok:var(--comments-ok,#1f7a3d);--radius:var(--comments-radius,10px);',
    'font:15px/1.55 var(--comments-font,system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif);',
    'color:var(--fg);background:var(--bg);padding:20px 0;-webkit-font-smoothing:antialiased;',
    // Paint the background a little beyond the text column, sideways only, without
    // moving the text.
    'box-shadow:calc(-1*var(--comments-bleed,16px)) 0 var(--bg),var(--comments-bleed,16px) 0 var(--bg)}',
    '@media (prefers-color-scheme:dark){.c-root:not([data-theme=light]){DARK}}',
    '.c-root[data-theme=dark]{DARK}',
    '*{box-sizing:border-box}',
    '.c-top{display:flex;align-items:baseline;justify-content:space-between;gap:12px;margin:0 0 14px}',
    'h2{font-size:1.25em;line-height:1.3;margin:0;font-weight:700;letter-spacing:-.01em}',
    '.c-count{color:var(--muted);font-weight:500;margin-left:6px}',
    '.c-live{font-size:.8em;color:var(--muted);display:inline-flex;align-items:center;gap:6px;white-space:nowrap}',
    '.c-live:before{content:"";width:8px;height:8px;border-radius:50%;background:var(--muted)}',
    '.c-root[data-state=live] .c-live:before{background:var(--ok)}',
    '.c-root[data-state=connecting] .c-live:before{background:#d29a00}',
    'form{background:var(--surface);border:1px solid var(--border);border-radius:var(--radius);padding:12px;margin:0 0 18px}',
    '.c-slot form{margin:10px 0 4px}',
    'label{display:block;font-size:.85em;font-weight:600;margin:0 0 4px}',
    'textarea,input,select{font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--border);',
    'border-radius:8px;padding:8px 10px;width:100%;display:block}',
    'textarea{min-height:84px;resize:vertical}',
    'textarea:focus,input:focus,select:focus{outline:2px solid var(--accent);outline-offset:-1px;border-color:var(--accent)}',
    '.c-field{margin:0 0 10px}',
    '.c-row{display:flex;align-items:center;justify-content:space-between;gap:10px;flex-wrap:wrap}',
    '.c-hint{font-size:.82em;color:var(--muted)}',
    '.c-hint b{color:var(--fg);font-weight:600}',
    'button{font:inherit;cursor:pointer;border-radius:8px}',
    'button:focus-visible,.c-comment:focus-visible{outline:2px solid var(--accent);outline-offset:2px}',
    '.c-btn{background:var(--accent);color:var(--accent-fg);border:0;padding:7px 16px;font-weight:600}',
    '.c-btn:hover{filter:brightness(1.08)}',
    '.c-btn[disabled]{opacity:.6;cursor:progress}',
    '.c-btn2{background:transparent;color:var(--fg);border:1px solid var(--border);padding:6px 14px}',
    '.c-btn2:hover{background:var(--surface)}',
    '.c-msg{font-size:.9em;margin:8px 0 0;padding:8px 10px;border-radius:8px}',
    '.c-msg:empty{display:none}',
    '.c-err{color:var(--danger);background:color-mix(in srgb,var(--danger) 9%,transparent)}',
    '.c-info{color:var(--fg);background:color-mix(in srgb,var(--accent) 10%,transparent)}',
    'ol{list-style:none;margin:0;padding:0}',
    '.c-item{margin:0}',
    '.c-comment{display:grid;grid-template-columns:36px 1fr;column-gap:10px;padding:12px 0;border-top:1px solid var(--border);border-radius:2px}',
    '.c-list>.c-item:first-child>.c-comment{border-top:0}',
    '.c-replies{margin-left:18px;padding-left:16px;border-left:2px solid var(--border)}',
    '.c-replies .c-comment{grid-template-columns:28px 1fr}',
    '.c-avatar{grid-row:span 3;width:36px;height:36px;border-radius:50%;display:grid;place-items:center;',
    'font-weight:700;color:#fff;background:hsl(var(--h,210) 45% 45%);text-transform:uppercase;user-select:none}',
    '.c-replies .c-avatar{width:28px;height:28px;font-size:.85em}',
    '.c-head{display:flex;flex-wrap:wrap;align-items:baseline;gap:2px 8px;min-width:0}',
    '.c-name{font-weight:650;overflow-wrap:anywhere}',
    '.c-time,.c-to{color:var(--muted);font-size:.85em}',
    '.c-badge{font-size:.72em;font-weight:700;letter-spacing:.03em;text-transform:uppercase;border-radius:99px;padding:1px 8px;',
    'background:var(--surface);color:var(--muted);border:1px solid var(--border)}',
    '.c-held{background:var(--warn-bg);color:var(--warn);border-color:transparent}',
    '.c-body{margin:2px 0 4px;white-space:pre-wrap;overflow-wrap:anywhere;min-width:0}',
    '.c-pending .c-body{opacity:.75}',
    '.c-removed .c-body{color:var(--muted);font-style:italic}',
    '.c-actions{display:flex;gap:4px;margin-left:-8px}',
    '.c-actions button,.c-link{background:none;border:0;color:var(--muted);font-size:.85em;font-weight:600;padding:3px 8px}',
    '.c-actions button:hover,.c-link:hover{color:var(--accent);background:var(--surface)}',
    '.c-slot{grid-column:2}',
    '.c-slot:empty{display:none}',
    '.c-confirm{display:flex;gap:8px;align-items:center;flex-wrap:wrap;font-size:.9em;margin:6px 0}',
    '.c-confirm select{width:auto;flex:1 1 160px}',
    '.c-older{display:block;margin:0 auto 12px}',
    '.c-sort{display:flex;gap:6px;margin:0 0 10px}',
    '.c-sort button{background:none;border:1px solid var(--border);color:var(--muted);font-size:.85em;font-weight:600;padding:3px 12px;border-radius:99px}',
    '.c-sort [aria-pressed=true]{background:var(--accent);border-color:var(--accent);color:var(--accent-fg)}',
    '.c-new{position:sticky;bottom:16px;display:block;margin:12px auto 0;box-shadow:0 4px 14px rgba(0,0,0,.18);border-radius:99px}',
    '.c-empty{color:var(--muted);text-align:center;padding:18px 0;margin:0}',
    '.c-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}',
    '.c-body a{color:var(--accent);text-decoration:underline}',
    '.c-edited{color:var(--muted);font-size:.85em;font-style:italic}',
    '.c-perma{color:inherit;text-decoration:none}.c-perma:hover{text-decoration:underline}',
    '.c-target>.c-comment{background:color-mix(in srgb,var(--accent) 14%,transparent);box-shadow:inset 3px 0 var(--accent)}',
    '.c-more,.c-newer{margin:4px 0 8px}',
    '[hidden]{display:none!important}',
    '.c-optin{display:flex;align-items:center;gap:6px;margin:0 0 10px;cursor:pointer}.c-optin input{width:auto;margin:0}',
    '@media (prefers-reduced-motion:no-preference){.c-fresh>.c-comment{animation:c-in .8s ease-out}}',
    '@keyframes c-in{from{background:color-mix(in srgb,var(--accent) 12%,transparent)}}'
  ].join('').replace(/DARK/g, '--fg:var(--comments-fg,#e4e8ec);--muted:var(--comments-muted,#9aa5b1);' +
    '--bg:var(--comments-bg,#14181d);--surface:var(--comments-surface,#1d232a);' +
    '--border:var(--comments-border,#2f3842);--accent:var(--comments-accent,#7aa7ff);' +
    '--accent-fg:var(--comments-accent-fg,#0b1220);--danger:var(--comments-danger,#ff8a80);' +
    '--warn-bg:var(--comments-warn-bg,#3a2e12);--warn:var(--comments-warn,#f5c76b);--ok:var(--comments-ok,#4cc38a);color-scheme:dark');

  var MESSAGES = {
    closed: 'Comments are closed on this article.',
    banned: 'You can no longer comment on this site.',
    duplicate: 'You posted this same comment a moment ago.',
    unavailable: 'Comments are temporarily unavailable. Please try again in a moment.',
    token_expired: 'Your sign-in has expired. Please sign in again to comment.',
    invalid_token: 'We could not verify your sign-in. Please sign in again to comment.',
    sso_disabled: 'Signing in is not set up for this site yet.',
    guests_disabled: 'Please sign in to comment.',
    unauthenticated: 'Please sign in to comment.',
    empty_body: 'Please write something first.',
    body_too_long: 'Comments are limited to 5,000 characters.',
    too_large: 'Comments are limited to 5,000 characters.',
    invalid_author_name: 'Please enter a name of 1 to 64 characters.',
    unknown_parent: 'The comment you are replying to is no longer available.',
    unknown_site: 'This comment section is not set up correctly (unknown site).',
    not_found: 'This comment no longer exists.',
    forbidden: 'You can only change your own comments.',
    edit_window_closed: 'This comment can no longer be edited.',
    conflict: 'This comment is waiting for a moderator and cannot be edited now.',
    network: 'Could not reach the comment server. Check your connection and try again.'
  };

  function messageOf(e) {
    if (e.code === 'rate_limited') {
      return 'You are going a little fast. Please wait ' + (e.retry > 1 ? e.retry + ' seconds' : 'a moment') +
        ' and try again.';
    }
    if (e.code === 'banned_word') {
      var word = /: (.+)$/.exec(e.message || '');
      return 'This site does not allow one of the words in your comment' + (word ? ' (\u201c' + word[1] + '\u201d)' : '') +
        '. Please edit it and try again.';
    }
    if (e.code === 'closed' && e.reopensAt) {
      // Quiet hours: say when commenting reopens, in the reader's own time.
      var at = new Date(e.reopensAt);
      return 'Commenting is paused for quiet hours. It reopens ' +
        (isNaN(at) ? 'later' : at.toLocaleString([], { weekday: 'long', hour: '2-digit', minute: '2-digit' })) + '.';
    }
    if (MESSAGES[e.code]) return MESSAGES[e.code];
    if (e.status === 401) return MESSAGES.unauthenticated;
    if (e.status >= 500) return 'Something went wrong on our side. Please try again.';
    var m = e.message || 'Something went wrong.';
    return m.charAt(0).toUpperCase() + m.slice(1) + (/[.!?]$/.test(m) ? '' : '.');
  }

  // -- small helpers

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function button(cls, text, onclick, type) {
    var b = el('button', cls, text);
    b.type = type || 'button';
    if (onclick) b.addEventListener('click', onclick);
    return b;
  }

  var uid = 0;
  function field(label, control) {
    var wrap = el('div', 'c-field');
    var l = el('label', null, label);
    control.id = 'c-f' + (++uid);
    l.htmlFor = control.id;
    wrap.appendChild(l);
    wrap.appendChild(control);
    return wrap;
  }

  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

  function ago(iso) {
    if (!iso) return '';
    var t = Date.parse(iso), s = (Date.now() - t) / 1000;
    if (!(s >= -60)) s = 0;
    if (s < 45) return 'just now';
    var m = Math.round(s / 60);
    if (m < 60) return plural(m, 'minute', 'minutes') + ' ago';
    var h = Math.round(m / 60);
    if (h < 24) return plural(h, 'hour', 'hours') + ' ago';
    var d = Math.round(h / 24);
    if (d < 7) return plural(d, 'day', 'days') + ' ago';
    return new Date(t).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
  }

  // http(s) URLs in a body become links; everything else stays text. Nodes are built
  // one by one (never markup), and only the ASCII words http and https followed by "://"
  // are looked for, so javascript:, data:, vbscript: and look-alikes (entities, other
  // cases of other schemes, full-width letters, control characters) never become links;
  // the URL parser then has the last word on the scheme.
  var URL_RE = /\bhttps?:\/\/[^\s<>"'`\u0000-\u001f\u007f-\u009f\u00a0\u200b-\u200f\u2028-\u202f\u2060-\u206f\u3000\ufeff]+/gi;
  var TRAILING = /[.,;:!?'"\])}>*]+$/;

  function count(s, ch) { return s.split(ch).length - 1; }

  function safeUrl(raw) {
    var u;
    try { u = new URL(raw); } catch (e) { return null; }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) return null;
    // https://bank.example@evil.example opens evil.example: user info only misleads.
    if (u.username || u.password) return null;
    return u;
  }

  // What a link shows: what was typed when its host reads as the browser reads it, or
  // else the destination itself (IDN homographs, full-width dots, numeric hosts).
  function label(raw, u) {
    var typed = raw.replace(/^https?:\/\//i, '').split(/[\/?#]/)[0].toLowerCase();
    return typed === u.host ? raw : u.href;
  }

  function shorten(raw) {
    if (raw.length <= LINK_SHOWN) return raw;
    var bare = raw.replace(/^https?:\/\//i, '');
    return bare.slice(0, LINK_SHOWN - 21) + '\u2026' + bare.slice(-20);
  }

  function fillText(node, text) {
    node.textContent = '';
    var last = 0, m;
    URL_RE.lastIndex = 0;
    while ((m = URL_RE.exec(text))) {
      var raw = m[0], trail = TRAILING.exec(raw);
      if (trail) raw = raw.slice(0, raw.length - trail[0].length);
      // A closing parenthesis is the URL's own when it opened one (Wikipedia's links).
      var rest = trail ? trail[0] : '';
      while (rest.charAt(0) === ')' && count(raw, '(') > count(raw, ')')) { raw += ')'; rest = rest.slice(1); }
      var u = safeUrl(raw);
      if (!u) continue;
      if (m.index > last) node.appendChild(document.createTextNode(text.slice(last, m.index)));
      var a = document.createElement('a');
      a.href = u.href;
      a.rel = 'nofollow ugc noopener noreferrer';
      a.target = '_blank';
      var shown = label(raw, u);
      a.textContent = shorten(shown);
      if (a.textContent !== raw) a.title = shown;
      node.appendChild(a);
      last = m.index + raw.length;
      URL_RE.lastIndex = last;
    }
    if (last < text.length) node.appendChild(document.createTextNode(text.slice(last)));
  }

  function hue(s) {
    var h = 0;
    for (var i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) % 360;
    return h;
  }

  function claims(jwt) {
    try {
      var p = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      var bin = atob(p + '==='.slice((p.length + 3) % 4));
      var bytes = new Uint8Array(bin.length);
      for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      var c = JSON.parse(new TextDecoder().decode(bytes));
      return c && typeof c === 'object' ? c : {};
    } catch (e) {
      return {};
    }
  }

  var storage = {
    get: function (k) { try { return JSON.parse(localStorage.getItem(k) || 'null'); } catch (e) { return null; } },
    set: function (k, v) { try { if (v == null) localStorage.removeItem(k); else localStorage.setItem(k, JSON.stringify(v)); } catch (e) { /* private mode */ } }
  };

  // -- the shared page API

  var api = window.Comments;
  if (!api || !api._widgets) {
    api = window.Comments = {
      _widgets: [],
      login: function (jwt) { api._widgets.forEach(function (w) { w(jwt || null); }); },
      logout: function () { api.login(null); }
    };
  }

  // -- one widget

  function mount(script) {
    var d = script.dataset;
    var site = d.site || '';
    var article = d.article || location.pathname;
    var host = document.querySelector(d.target || '#comments');
    if (!host) return;
    var shadow = host.shadowRoot || host.attachShadow({ mode: 'open' });
    shadow.textContent = '';
    if (shadow.adoptedStyleSheets && window.CSSStyleSheet && 'replaceSync' in CSSStyleSheet.prototype) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS); // constructed: no inline <style> for strict partner CSPs
      shadow.adoptedStyleSheets = [sheet];
    } else {
      shadow.appendChild(el('style', null, CSS));
    }

    var SITE_URL = BASE + 'api/v1/sites/' + encodeURIComponent(site);
    var ART = '/articles/' + encodeURIComponent(article) + '/comments';
    var GUEST_KEY = 'comments-guest:' + BASE + site;

    var token = d.ssoToken || null;
    var guest = storage.get(GUEST_KEY);
    var config = { guests: false, live_insert: false, closed: false };
    var byId = {};
    var queued = [], fresh = {};
    var lastSeq = 0;
    var loadSeq = 0; // latest_seq when the thread was loaded
    var older = null; // the cursor of the next page down (newest, top) or up (a permalink)
    var newer = null; // oldest order, a permalink too: the cursor of the comments after those shown
    var ORDER_KEY = 'comments-order:' + BASE + site;
    var chosen = null; // the reader's pick, this page session
    try { chosen = ORDERS[sessionStorage.getItem(ORDER_KEY)] ? sessionStorage.getItem(ORDER_KEY) : null; } catch (e) { /* storage off */ }
    var order = chosen || 'newest'; // the order shown
    var lead = 0; // top order: comments shown live go above the ranked ones
    var ranked = 0;
    var skipTarget = false;
    var loads = 0; // answers to an earlier load (another order) are dropped
    var total = 0;
    var ws = null;
    var attempts = 0;
    var retryTimer = 0;
    var loaded = false;

    // skeleton
    var root = el('section', 'c-root');
    root.setAttribute('aria-labelledby', 'c-title');
    if (d.theme === 'light' || d.theme === 'dark') root.dataset.theme = d.theme;
    var top = el('div', 'c-top');
    var title = el('h2', null, 'Comments');
    title.id = 'c-title';
    var countEl = el('span', 'c-count');
    title.appendChild(countEl);
    var live = el('span', 'c-live', 'Connecting\u2026');
    live.setAttribute('role', 'status');
    top.appendChild(title);
    top.appendChild(live);
    var formBox = el('div', 'c-compose');
    var announcer = el('div', 'c-sr');
    announcer.setAttribute('aria-live', 'polite');
    announcer.setAttribute('role', 'status');
    var thread = el('div', 'c-thread');
    var olderBtn = button('c-btn2 c-older', 'Load older comments', loadOlder);
    olderBtn.hidden = true;
    var list = el('ol', 'c-list');
    list.setAttribute('aria-label', 'Comments');
    var empty = el('p', 'c-empty', 'Loading comments\u2026');
    var newBtn = button('c-btn c-new', '', flush);
    newBtn.hidden = true;
    var newerBtn = button('c-btn2 c-newer', 'Load newer comments', loadNewer);
    newerBtn.hidden = true;
    var sortBar = el('div', 'c-sort');
    sortBar.setAttribute('role', 'group');
    sortBar.setAttribute('aria-label', 'Sort comments');
    sortBar.hidden = true;
    Object.keys(ORDERS).forEach(function (o) {
      var b = button('', ORDERS[o], function () {
        chosen = o;
        try { sessionStorage.setItem(ORDER_KEY, o); } catch (e) { /* storage off */ }
        reload(true);
      });
      b.dataset.order = o;
      sortBar.appendChild(b);
    });
    thread.appendChild(sortBar);
    thread.appendChild(olderBtn);
    thread.appendChild(list);
    thread.appendChild(newerBtn);
    thread.appendChild(empty);
    thread.appendChild(newBtn);
    root.appendChild(top);
    root.appendChild(formBox);
    root.appendChild(announcer);
    root.appendChild(thread);
    shadow.appendChild(root);

    function announce(text) {
      announcer.textContent = '';
      setTimeout(function () { announcer.textContent = text; }, 60);
    }

    function setState(state, text) {
      root.dataset.state = state;
      live.textContent = text;
    }

    function showCount() {
      countEl.textContent = total > 0 ? '(' + total + ')' : '';
      empty.hidden = list.children.length > 0;
      if (loaded) empty.textContent = 'No comments yet. Start the conversation.';
    }

    // -- identity

    function me() {
      if (token) {
        var sub = claims(token).sub;
        return sub ? site + ':' + sub : null;
      }
      return guest && guest.id;
    }

    function mine(c) { return !!c && !!c.author && c.author.id === me(); }

    function setToken(jwt) {
      token = jwt;
      renderMainForm();
      for (var id in byId) actionsFor(byId[id]);
    }
    api._widgets.push(setToken);

    // -- HTTP

    function call(method, path, body, auth) {
      var headers = {};
      // Every write is JSON, a body or not: the server takes no other (so that browsers
      // ask before any page writes).
      if (method !== 'GET') headers['Content-Type'] = 'application/json';
      if (auth && token) headers.Authorization = 'Bearer ' + token;
      else if (auth && guest && guest.token) headers['X-Comments-Guest'] = guest.token;
      return fetch(SITE_URL + path, {
        method: method,
        headers: headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'omit',
        cache: 'no-store'
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (r.ok) return { status: r.status, data: data };
          var err = data.error || {};
          var e = new Error(err.message || 'HTTP ' + r.status);
          e.status = r.status;
          e.code = err.code || '';
          e.retry = parseInt(r.headers.get('Retry-After'), 10) || 0;
          e.reopensAt = data.reopens_at || null;
          throw e;
        });
      }, function () {
        var e = new Error('network');
        e.code = 'network';
        e.status = 0;
        throw e;
      });
    }

    // -- rendering comments

    function depth(c) {
      var n = 0, p = c.parent;
      while (p && byId[p] && n < 50) { n++; p = byId[p].c.parent; }
      return n;
    }

    function render(c) {
      var n = { c: c, liked: !!c.reacted };
      var author = c.author || { id: '', name: '' }; // a tombstone has none
      var li = n.li = el('li', 'c-item');
      li.dataset.id = c.id;
      var art = n.art = el('article', 'c-comment');
      art.tabIndex = -1;
      var av = n.avatar = el('span', 'c-avatar', Array.from(author.name.trim())[0] || '?');
      av.setAttribute('aria-hidden', 'true');
      av.style.setProperty('--h', hue(author.id));
      var head = el('div', 'c-head');
      n.name = el('span', 'c-name', author.name);
      n.name.id = 'c-n-' + (++uid);
      art.setAttribute('aria-labelledby', n.name.id);
      n.to = el('span', 'c-to');
      n.time = el('time', 'c-time', ago(c.created_at));
      if (c.created_at) {
        n.time.dateTime = c.created_at;
        n.time.title = new Date(c.created_at).toLocaleString();
      }
      // The permalink: the article page with #comment-ID opens the thread right here.
      n.perma = el('a', 'c-perma');
      n.perma.href = '#comment-' + encodeURIComponent(c.id);
      n.perma.setAttribute('aria-label', 'Link to this comment');
      n.perma.appendChild(n.time);
      n.edited = el('span', 'c-edited', 'edited');
      n.badge = el('span', 'c-badge c-held', 'Awaiting review');
      n.you = el('span', 'c-badge', 'You');
      head.appendChild(n.name);
      head.appendChild(n.you);
      head.appendChild(n.to);
      head.appendChild(n.perma);
      head.appendChild(n.edited);
      head.appendChild(n.badge);
      n.body = el('p', 'c-body');
      n.actions = el('div', 'c-actions');
      n.slot = el('div', 'c-slot');
      art.appendChild(av);
      art.appendChild(head);
      art.appendChild(n.body);
      art.appendChild(n.actions);
      art.appendChild(n.slot);
      n.replies = el('ol', 'c-replies');
      li.appendChild(art);
      li.appendChild(n.replies);
      if (c.tombstone) markRemoved(n);
      refresh(n);
      return n;
    }

    function refresh(n) {
      var held = n.c.status !== 'published';
      n.li.dataset.seq = n.c.seq == null ? '' : n.c.seq;
      n.li.classList.toggle('c-pending', held);
      n.badge.hidden = !held || !!n.removed;
      if (held) n.badge.title = 'Only you can see this comment until a moderator approves it.';
      n.edited.hidden = !n.c.edited_at || !!n.removed;
      if (n.c.edited_at) n.edited.title = 'Edited ' + new Date(n.c.edited_at).toLocaleString();
      if (!n.removed) fillText(n.body, n.c.body || '');
      actionsFor(n);
    }

    function actionsFor(n) {
      var c = n.c, own = mine(c);
      n.you.hidden = !own;
      n.actions.textContent = '';
      if (n.removed) return;
      if (c.status === 'published') n.actions.appendChild(likeButton(n));
      if (c.status === 'published' && canPost()) n.actions.appendChild(button('', 'Reply', function () { openReply(n); }));
      if (own && c.status === 'published' && canEdit(c)) n.actions.appendChild(button('', 'Edit', function () { openEdit(n); }));
      if (own) n.actions.appendChild(button('', 'Delete', function () { askDelete(n); }));
      else if (c.status === 'published') {
        var r = button('', n.reported ? 'Reported' : 'Report', function () { askReport(n, r); });
        r.disabled = !!n.reported;
        n.actions.appendChild(r);
      }
    }

    // Likes (docs/api.md, "Reactions"): the count follows comment.reactions frames; whether
    // this reader likes it comes with the pages asked for as them ("reacted"), then clicks.
    function likeLabel(n) {
      var k = n.c.reactions || 0;
      return (n.liked ? '\u2665 Liked' : '\u2661 Like') + (k ? ' \u00b7 ' + k : '');
    }

    function likeButton(n) {
      var b = button('c-like', likeLabel(n), function () {
        b.disabled = true;
        var path = ART + '/' + encodeURIComponent(n.c.id) + '/reaction';
        call(n.liked ? 'DELETE' : 'PUT', path, {}, true).then(function (r) {
          n.liked = !!r.data.reacted;
          n.c.reactions = r.data.reactions;
          showLikes(n);
        }, function () { b.disabled = false; });
      });
      n.likeBtn = b;
      showLikes(n);
      return b;
    }

    function showLikes(n) {
      var b = n.likeBtn;
      if (!b) return;
      b.textContent = likeLabel(n);
      b.setAttribute('aria-pressed', n.liked ? 'true' : 'false');
      var can = !!(token || (guest && guest.token));
      b.disabled = !can;
      b.title = can ? '' : 'Sign in or post a comment to like';
    }

    function place(n) {
      var c = n.c, parent = c.parent ? byId[c.parent] : null, box = list, to = '';
      n.orphan = !!c.parent && !parent;
      if (parent) {
        if (depth(parent.c) < cap()) box = parent.replies;
        else { box = parent.li.parentNode || list; to = parent.c.author ? '@' + parent.c.author.name : '@removed comment'; }
      } else if (n.orphan) {
        to = '\u21b3 replying to an earlier comment';
      }
      n.to.textContent = to;
      n.to.hidden = !to;
      var first = box === list, at = key(n, first), kids = box.children;
      for (var i = 0; i < kids.length; i++) {
        var k = kids[i], o = byId[k.dataset.id];
        if (k !== n.li && o && key(o, first) > at) {
          if (k.previousSibling !== n.li) box.insertBefore(n.li, k);
          return;
        }
      }
      if (box.lastChild !== n.li) box.appendChild(n.li);
    }

    // Where a comment goes among its siblings (ascending). Replies read as a conversation,
    // oldest first, in every order; first-level comments follow the order shown: by seq,
    // newest first, or (top) the server's rank, with comments shown live above it.
    function key(n, first) {
      var s = n.c.seq == null ? Infinity : n.c.seq;
      return !first || order === 'oldest' ? s : order === 'top' ? n.rank : -s;
    }

    function insert(c, fresh, rank) {
      var n = byId[c.id] = render(c);
      n.rank = rank == null ? --lead : rank;
      place(n);
      if (fresh) {
        n.li.classList.add('c-fresh');
        setTimeout(function () { n.li.classList.remove('c-fresh'); }, 1200);
      }
      return n;
    }

    function update(n, c) {
      var moved = n.c.seq !== c.seq;
      if (n.c.status !== 'published' && c.status === 'published' && mine(c)) {
        var note = formBox.querySelector('.c-msg.c-info');
        if (note) note.textContent = '';
        announce('Your comment was approved and is now public.');
      }
      n.c = c;
      refresh(n);
      if (moved) place(n);
    }

    function cap() {
      var d = +config.reply_depth;
      return d >= 1 ? d : CAP;
    }

    function canEdit(c) {
      var w = +config.edit_window_s;
      return w > 0 && Date.now() - Date.parse(c.created_at) < w * 1000;
    }

    function hasReplies(id) {
      for (var k in byId) if (byId[k].c.parent === id) return true;
      return false;
    }

    // A tombstone: the place of a removed comment that replies still answer.
    function markRemoved(n) {
      n.removed = true;
      n.li.classList.add('c-removed');
      n.body.textContent = 'This comment was removed.';
      n.name.textContent = 'Removed';
      n.avatar.textContent = '\u2013';
      n.you.hidden = n.badge.hidden = n.edited.hidden = true;
      n.slot.textContent = '';
      actionsFor(n);
    }

    // A tombstone's comment published again (a moderator approved it after all).
    function restore(n, c) {
      n.removed = false;
      n.li.classList.remove('c-removed');
      n.name.textContent = c.author.name;
      n.avatar.textContent = Array.from(c.author.name.trim())[0] || '?';
      n.avatar.style.setProperty('--h', hue(c.author.id));
    }

    function drop(n) {
      n.li.remove();
      delete byId[n.c.id];
      // A tombstone whose last reply this was goes with it.
      var p = n.c.parent && byId[n.c.parent];
      if (p && p.removed && !hasReplies(p.c.id)) drop(p);
    }

    function remove(id) {
      var n = byId[id];
      if (!n || n.removed) return false;
      if (hasReplies(id)) markRemoved(n);
      else drop(n);
      return true;
    }

    // Long reply lists show their first replies and a button for the rest.
    function collapseAll() {
      shadow.querySelectorAll('ol.c-replies').forEach(collapse);
    }

    function collapse(box) {
      if (box.dataset.open) return;
      var kids = box.children, i;
      if (box.cMore) { box.cMore.remove(); box.cMore = null; }
      for (i = 0; i < kids.length; i++) kids[i].hidden = kids.length > COLLAPSE_AT && i >= SHOW_FIRST;
      if (kids.length <= COLLAPSE_AT) return;
      var more = box.cMore = button('c-link c-more', 'Show ' + plural(kids.length - SHOW_FIRST, 'more reply', 'more replies'), function () {
        box.dataset.open = '1';
        for (var j = 0; j < kids.length; j++) kids[j].hidden = false;
        more.remove();
        box.cMore = null;
      });
      box.parentNode.insertBefore(more, box.nextSibling);
    }

    function reveal(n) {
      for (var box = n.li.parentNode; box && box !== list; box = box.parentNode) {
        if (box.cMore) box.cMore.click();
      }
      n.li.hidden = false;
    }

    function targetId() {
      var m = /^#comment-(.+)$/.exec(location.hash);
      if (!m) return null;
      try { return decodeURIComponent(m[1]); } catch (e) { return null; }
    }

    function focusTarget(id) {
      var n = byId[id];
      if (!n) return false;
      shadow.querySelectorAll('.c-target').forEach(function (t) { t.classList.remove('c-target'); });
      reveal(n);
      n.li.classList.add('c-target');
      n.art.focus({ preventScroll: true });
      n.art.scrollIntoView({ block: 'center' });
      return true;
    }

    // -- the live stream

    function reading() {
      // Scrolled into (or past) the thread: inserting would move text under the reader.
      return !config.live_insert && list.getBoundingClientRect().top < 0;
    }

    function published(c) {
      var known = byId[c.id];
      var wasPublished = (known && known.c.status === 'published') || queued.some(function (q) { return q.id === c.id; });
      if (!wasPublished) total++;
      if (!known && newer != null && !mine(c)) {
        // Oldest first, or a permalinked slice: new comments come after the ones not
        // loaded yet ("Load newer comments").
        showCount();
        return;
      }
      if (known && known.removed) restore(known, c);
      if (known) update(known, c);
      else if (!wasPublished) {
        if (mine(c)) insert(c, true);
        // Top order: a new comment has no likes yet; it waits in the chip, not at the bottom.
        else if (order === 'top' || reading()) queued.push(c);
        else {
          flush(false);
          insert(c, true);
          announce('New comment from ' + c.author.name);
        }
      }
      showNew();
      showCount();
    }

    function edited(c) {
      var n = byId[c.id];
      if (n) {
        if (!n.removed) update(n, c);
        return;
      }
      for (var i = 0; i < queued.length; i++) if (queued[i].id === c.id) { queued[i] = c; return; }
      // Published after this page loaded (its publication event was redacted in the
      // replay): new here. Older ones sit in pages not loaded.
      if (c.seq != null && c.seq > loadSeq) published(c);
    }

    function showNew() {
      var n = queued.length;
      newBtn.hidden = !n;
      newBtn.textContent = n === 1 ? '1 new comment' : n + ' new comments';
      if (n) announce(newBtn.textContent + ' \u2013 press the button to show');
    }

    function flush(focus) {
      var first = null;
      var batch = queued;
      queued = [];
      batch.forEach(function (c) {
        if (!byId[c.id]) {
          var n = insert(c, true);
          first = first || n;
        }
      });
      newBtn.hidden = true;
      showCount();
      if (first && focus !== false) {
        first.art.focus({ preventScroll: true });
        first.art.scrollIntoView({ block: 'center' });
        announce(plural(batch.length, 'new comment', 'new comments') + ' shown');
      }
    }

    function onEvent(m) {
      if (!m || typeof m !== 'object') return;
      if (m.type === 'batch') { (m.events || []).forEach(onEvent); return; }
      if (m.type === 'reset') { reload(); return; }
      if (typeof m.seq === 'number') {
        if (m.seq <= lastSeq) return; // seen already (a replay after reconnecting)
        lastSeq = m.seq;
      }
      if (m.type === 'comment.reactions') { // no seq: outside the stream
        var liked = byId[m.id];
        if (liked && !liked.removed && typeof m.reactions === 'number') {
          liked.c.reactions = m.reactions;
          showLikes(liked);
        }
        return;
      }
      if (m.type === 'comment.published' && m.comment) published(m.comment);
      else if (m.type === 'comment.edited' && m.comment) edited(m.comment);
      else if (m.type === 'comment.redacted') fresh[m.id] = 1;
      else if (m.type === 'comment.removed') {
        var own = byId[m.id];
        if (own && !own.removed && mine(own.c) && own.c.status !== 'published') {
          // Its author's edit was held: they keep seeing it, as awaiting review.
          total = Math.max(0, total - 1);
          showCount();
          return;
        }
        var before = queued.length;
        queued = queued.filter(function (q) { return q.id !== m.id; });
        if (remove(m.id) || queued.length < before || !(own || fresh[m.id])) total = Math.max(0, total - 1);
        showNew();
        showCount();
      }
    }

    function connect() {
      clearTimeout(retryTimer);
      if (ws) { ws.onclose = null; ws.close(); }
      setState('connecting', attempts ? 'Reconnecting\u2026' : 'Connecting\u2026');
      var sock = ws = new WebSocket(WS_BASE + 'ws/v1/sites/' + encodeURIComponent(site) + '/articles/' +
        encodeURIComponent(article) + '?since=' + lastSeq);
      sock.onopen = function () { attempts = 0; setState('live', 'Live'); };
      sock.onmessage = function (e) {
        var m;
        if (ws !== sock) return; // a socket of an earlier load
        try { m = JSON.parse(e.data); } catch (err) { return; }
        onEvent(m);
      };
      sock.onclose = function () {
        if (ws !== sock) return;
        ws = null;
        // Exponential backoff with jitter: 0.5–1 s, 1–2 s, … capped at 30 s.
        var delay = Math.min(30000, 1000 * Math.pow(2, attempts++));
        delay = delay / 2 + Math.random() * delay / 2;
        setState('offline', 'Reconnecting\u2026');
        retryTimer = setTimeout(connect, delay);
      };
    }

    window.addEventListener('hashchange', function () {
      var id = targetId();
      skipTarget = false;
      if (id && loaded && !focusTarget(id)) reload();
    });
    window.addEventListener('online', function () { if (!ws && loaded) { attempts = 0; connect(); } });
    window.addEventListener('scroll', function () { if (queued.length && order !== 'top' && !reading()) flush(false); }, { passive: true });

    // -- loading

    function addPage(page) {
      var cs = page.comments, base = ranked;
      ranked += cs.length;
      // Oldest first, so that parents are there before their replies; ranked as served.
      for (var i = cs.length - 1; i >= 0; i--) if (!byId[cs[i].id]) insert(cs[i], false, base + i);
      for (var id in byId) if (byId[id].orphan && byId[byId[id].c.parent]) place(byId[id]);
      older = page.next;
      olderBtn.hidden = older == null;
      collapseAll();
    }

    // The thread around a permalinked comment, or null when it is gone (then the
    // newest page is shown).
    function contextOf(id) {
      return call('GET', ART + '/' + encodeURIComponent(id) + '/context?limit=' + CONTEXT, undefined, true).then(function (r) {
        var data = r.data;
        return {
          data: {
            comments: data.before.concat([data.comment], data.after).reverse(),
            next: data.cursors.before,
            latest_seq: data.latest_seq
          },
          newer: data.cursors.after,
          order: 'oldest' // a slice of the conversation: read in its order
        };
      }, function (e) {
        if (e.status !== 404) throw e;
        announce('The linked comment is no longer available.');
        return null;
      });
    }

    // The first page in order o. Oldest first is shown like a permalinked slice from the
    // thread's start: later comments behind "Load newer comments", live ones after them.
    function firstPage(o) {
      return call('GET', ART + '?order=' + o + '&limit=' + PAGE, undefined, true).then(function (r) {
        var d = r.data;
        return o === 'oldest' ? { data: { comments: d.comments.slice().reverse(), next: null, latest_seq: d.latest_seq }, newer: d.next, order: o }
          : { data: d, newer: null, order: o };
      });
    }

    function load() {
      var gen = ++loads, target = skipTarget ? null : targetId();
      var cfg = call('GET', '/config?article=' + encodeURIComponent(article));
      function ordered() {
        // The reader's pick, else the site's default (then the page waits for the config).
        return (chosen ? Promise.resolve(chosen) : cfg.then(function (r) { return r.data.default_order; })).then(function (o) {
          return firstPage(ORDERS[o] ? o : 'newest');
        });
      }
      // The thread and its count are asked for as this reader (their guest or sign-in
      // token): the server shows a reader comments only they may see, and their likes.
      return Promise.all([
        cfg,
        target ? contextOf(target).then(function (c) { return c || ordered(); }) : ordered(),
        call('GET', '/counts?article=' + encodeURIComponent(article), undefined, true)
      ]).then(function (r) {
        if (gen !== loads) return; // another order was picked meanwhile
        config = r[0].data;
        total = (r[2].data.counts || {})[article] || 0;
        list.textContent = '';
        byId = {};
        queued = [];
        fresh = {};
        lead = ranked = 0;
        order = r[1].order;
        layout();
        lastSeq = loadSeq = r[1].data.latest_seq || 0;
        newer = r[1].newer;
        newerBtn.hidden = newer == null;
        addPage(r[1].data);
        if (target) focusTarget(target);
        loaded = true;
        renderMainForm();
        showNew();
        showCount();
        connect();
      });
    }

    function layout() {
      var up = order === 'oldest'; // older comments above: a permalinked slice
      thread.insertBefore(olderBtn, up ? list : newerBtn);
      olderBtn.textContent = up ? 'Load older comments' : 'Load more comments';
      sortBar.hidden = false;
      sortBar.querySelectorAll('button').forEach(function (b) {
        b.setAttribute('aria-pressed', b.dataset.order === order ? 'true' : 'false');
      });
    }

    function start() {
      load().catch(function (e) {
        setState('offline', 'Offline');
        empty.hidden = false;
        empty.textContent = 'Comments could not be loaded. ' + messageOf(e) + ' ';
        empty.appendChild(button('c-link', 'Try again', function () {
          empty.textContent = 'Loading comments\u2026';
          start();
        }));
      });
    }

    function reload(picked) {
      if (picked) skipTarget = true; // a picked order shows the thread, not the permalink
      if (ws) { ws.onclose = null; ws.close(); ws = null; }
      start();
    }

    function loadNewer() {
      var gen = loads;
      newerBtn.disabled = true;
      call('GET', ART + '?order=oldest&limit=' + PAGE + '&after=' + newer, undefined, true).then(function (r) {
        if (gen !== loads) return;
        r.data.comments.forEach(function (c) { if (!byId[c.id]) insert(c); });
        for (var id in byId) if (byId[id].orphan && byId[byId[id].c.parent]) place(byId[id]);
        newer = r.data.next;
        newerBtn.hidden = newer == null;
        collapseAll();
        showCount();
      }, function (e) { announce(messageOf(e)); }).then(function () { newerBtn.disabled = false; });
    }

    function loadOlder() {
      var gen = loads;
      var q = order === 'top' ? 'top&cursor=' + encodeURIComponent(older) : 'newest&before=' + older;
      olderBtn.disabled = true;
      call('GET', ART + '?order=' + q + '&limit=' + PAGE, undefined, true).then(function (r) {
        if (gen !== loads) return;
        addPage(r.data);
        showCount();
      }, function (e) { announce(messageOf(e)); }).then(function () { olderBtn.disabled = false; });
    }

    // -- posting

    function canPost() { return !config.closed && !!(token || config.guests); }

    function renderMainForm() {
      var old = formBox.querySelector('textarea');
      var draft = old ? old.value : '';
      formBox.textContent = '';
      if (!loaded) return;
      if (config.closed) {
        formBox.appendChild(el('p', 'c-msg c-info', MESSAGES.closed));
      } else if (!canPost()) {
        var p = el('p', 'c-msg c-info', 'Sign in to join the discussion. ');
        if (d.loginUrl && /^https?:/i.test(d.loginUrl)) {
          var a = el('a', 'c-link', 'Sign in');
          a.href = d.loginUrl;
          p.appendChild(a);
        }
        formBox.appendChild(p);
      } else {
        formBox.appendChild(composer(null));
        formBox.querySelector('textarea').value = draft;
      }
    }

    function composer(parent, onDone) {
      var form = el('form');
      form.noValidate = true;
      form.setAttribute('aria-label', parent ? 'Reply to ' + parent.c.author.name : 'Write a comment');
      var ta = el('textarea');
      ta.name = 'body';
      ta.maxLength = BODY_MAX;
      ta.placeholder = parent ? 'Write a reply\u2026' : 'Share your thoughts\u2026';
      form.appendChild(field(parent ? 'Your reply' : 'Your comment', ta));
      var nameIn = null;
      if (!token) {
        nameIn = el('input');
        nameIn.name = 'author_name';
        nameIn.autocomplete = 'nickname';
        nameIn.maxLength = NAME_MAX;
        nameIn.value = (guest && guest.name) || '';
        form.appendChild(field('Your name', nameIn));
      }
      // Reply e-mails (server with mail on): subscribed after the post succeeds, when the
      // reader has an identity (a new guest gets theirs with the post).
      var mailBox = null, mailIn = null;
      if (config.mail) {
        mailBox = el('input');
        mailBox.type = 'checkbox';
        mailBox.name = 'mail_replies';
        var optIn = el('label', 'c-hint c-optin');
        optIn.appendChild(mailBox);
        optIn.appendChild(document.createTextNode(' E-mail me replies'));
        form.appendChild(optIn);
        if (!(token && claims(token).email)) {
          mailIn = el('input');
          mailIn.type = 'email';
          mailIn.name = 'email';
          mailIn.autocomplete = 'email';
          mailIn.maxLength = 254;
          var mailField = field('Your e-mail', mailIn);
          mailField.hidden = true;
          form.appendChild(mailField);
          mailBox.addEventListener('change', function () { mailField.hidden = !mailBox.checked; });
        }
      }
      var row = el('div', 'c-row');
      var hint = el('span', 'c-hint');
      if (token) {
        hint.appendChild(document.createTextNode('Commenting as '));
        hint.appendChild(el('b', null, String(claims(token).name || 'you')));
        hint.appendChild(document.createTextNode('.'));
      } else {
        hint.textContent = 'Posting as a guest. Be kind.';
      }
      if (config.premoderated) hint.appendChild(document.createTextNode(' Comments are reviewed before they appear.'));
      var actions = el('div', 'c-row');
      if (onDone) actions.appendChild(button('c-btn2', 'Cancel', onDone));
      var submit = button('c-btn', parent ? 'Reply' : 'Post comment', null, 'submit');
      actions.appendChild(submit);
      row.appendChild(hint);
      row.appendChild(actions);
      form.appendChild(row);
      var msg = el('p', 'c-msg');
      msg.setAttribute('role', 'alert');
      form.appendChild(msg);

      function say(text, cls) { msg.className = 'c-msg ' + cls; msg.textContent = text; }

      ta.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
        if (e.key === 'Escape' && onDone) onDone();
      });
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        var body = ta.value.trim();
        var payload = { body: body, parent: parent ? parent.c.id : null };
        if (total === 0) pageInfo(payload); // the article's first post names its page
        if (!body) { say(MESSAGES.empty_body, 'c-err'); ta.focus(); return; }
        if (nameIn) {
          payload.author_name = nameIn.value.trim();
          if (!payload.author_name) { say('Please enter your name.', 'c-err'); nameIn.focus(); return; }
        }
        var wantsMail = !!(mailBox && mailBox.checked);
        if (wantsMail && mailIn && !mailIn.value.trim()) { say('Please enter your e-mail.', 'c-err'); mailIn.focus(); return; }
        submit.disabled = true;
        say('', '');
        post(payload).then(function (r) {
          var c = r.data.comment;
          if (r.data.guest_token) {
            guest = { token: r.data.guest_token, id: c.author.id, name: payload.author_name };
            for (var k in byId) showLikes(byId[k]); // a guest token: now they may like
          }
          else if (guest && nameIn) guest.name = payload.author_name;
          if (nameIn) {
            storage.set(GUEST_KEY, guest);
            shadow.querySelectorAll('input[name=author_name]').forEach(function (i) { i.value = i.value || guest.name; });
          }
          ta.value = '';
          if (wantsMail) subscribeMail(mailBox, mailIn, onDone ? null : say);
          var n = byId[c.id];
          if (!n) {
            if (c.status === 'published') total++;
            n = insert(c, true);
          } else update(n, c);
          showCount();
          if (r.status === 202) {
            var held = 'Thanks! Your comment is awaiting review and will appear once a moderator approves it.';
            announce(held);
            if (onDone) onDone(); else say(held, 'c-info');
          } else {
            announce('Your comment was posted.');
            if (onDone) onDone();
          }
        }, function (err) {
          say(messageOf(err), 'c-err');
          if (err.code === 'closed' && !err.reopensAt) { config.closed = true; if (!onDone) setTimeout(renderMainForm, 4000); }
        }).then(function () { submit.disabled = false; });
      });
      if (parent) setTimeout(function () { ta.focus(); }, 0);
      return form;
    }

    function subscribeMail(box, input, say) {
      var body = input ? { email: input.value.trim() } : {};
      return call('POST', '/mail/subscribe', body, true).then(function (r) {
        box.checked = false;
        box.dispatchEvent(new Event('change'));
        var text = r.data.subscribed ? 'You will get an e-mail when someone replies to you.'
          : 'Check your inbox: confirm your address to get e-mails when someone replies.';
        announce(text);
        if (say) say(text, 'c-info');
      }, function (err) {
        announce(messageOf(err));
        if (say) say(messageOf(err), 'c-err');
      });
    }

    function pageInfo(payload) {
      // The server keeps them only for an article that has none, from an allowed origin.
      var canon = document.querySelector('link[rel=canonical]');
      var url = canon && canon.href ? canon.href : location.href.split('#')[0];
      if (/^https?:/i.test(url)) payload.article_url = url.slice(0, 2000);
      if (document.title) payload.article_title = document.title.slice(0, 300);
    }

    function post(payload) {
      return call('POST', ART, payload, true).catch(function (e) {
        if (e.code === 'invalid_guest_token' && guest && !token) {
          guest = null; // the server forgot this guest: post as a new one
          storage.set(GUEST_KEY, null);
          return call('POST', ART, payload, true);
        }
        throw e;
      });
    }

    function openReply(n) {
      n.slot.textContent = '';
      n.slot.appendChild(composer(n, function () {
        n.slot.textContent = '';
        var b = n.actions.querySelector('button');
        if (b) b.focus();
      }));
    }

    function confirmRow(n, text, extra, okText, onOk) {
      n.slot.textContent = '';
      var row = el('div', 'c-confirm');
      row.appendChild(el('span', null, text));
      if (extra) row.appendChild(extra);
      var ok = button('c-btn', okText);
      var cancel = button('c-btn2', 'Cancel', function () { n.slot.textContent = ''; });
      var msg = el('p', 'c-msg');
      msg.setAttribute('role', 'alert');
      ok.addEventListener('click', function () {
        ok.disabled = true;
        onOk().then(function (done) {
          n.slot.textContent = '';
          if (done) { var p = el('p', 'c-msg c-info', done); n.slot.appendChild(p); setTimeout(function () { p.remove(); }, 5000); }
        }, function (e) {
          ok.disabled = false;
          msg.className = 'c-msg c-err';
          msg.textContent = messageOf(e);
        });
      });
      row.appendChild(ok);
      row.appendChild(cancel);
      n.slot.appendChild(row);
      n.slot.appendChild(msg);
      ok.focus();
    }

    function openEdit(n) {
      n.slot.textContent = '';
      var form = el('form');
      form.noValidate = true;
      form.setAttribute('aria-label', 'Edit your comment');
      var ta = el('textarea');
      ta.name = 'body';
      ta.maxLength = BODY_MAX;
      ta.value = n.c.body;
      form.appendChild(field('Edit your comment', ta));
      var row = el('div', 'c-row');
      var actions = el('div', 'c-row');
      function close() { n.slot.textContent = ''; }
      actions.appendChild(button('c-btn2', 'Cancel', close));
      var save = button('c-btn', 'Save', null, 'submit');
      actions.appendChild(save);
      row.appendChild(el('span', 'c-hint', config.premoderated ? 'Edits are reviewed before they appear.' : ''));
      row.appendChild(actions);
      form.appendChild(row);
      var msg = el('p', 'c-msg');
      msg.setAttribute('role', 'alert');
      form.appendChild(msg);
      ta.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
        if (e.key === 'Escape') close();
      });
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        var body = ta.value.trim();
        if (!body) { msg.className = 'c-msg c-err'; msg.textContent = MESSAGES.empty_body; ta.focus(); return; }
        save.disabled = true;
        call('PATCH', ART + '/' + encodeURIComponent(n.c.id), { body: body }, true).then(function (r) {
          var c = r.data.comment, cur = byId[c.id];
          // Held, it has no seq any more: its author still sees it where it was.
          if (c.seq == null && cur) c.seq = cur.c.seq;
          if (cur) update(cur, c); else cur = insert(c, true);
          close();
          if (r.status === 202) {
            var held = 'Your edit is awaiting review; until a moderator approves it, only you can see this comment.';
            var p = el('p', 'c-msg c-info', held);
            cur.slot.appendChild(p);
            announce(held);
          } else announce('Your comment was updated.');
        }, function (err) {
          msg.className = 'c-msg c-err';
          msg.textContent = messageOf(err);
        }).then(function () { save.disabled = false; });
      });
      n.slot.appendChild(form);
      setTimeout(function () { ta.focus(); }, 0);
    }

    function askDelete(n) {
      confirmRow(n, 'Delete your comment?', null, 'Delete', function () {
        var path = ART + '/' + encodeURIComponent(n.c.id);
        return call('DELETE', path, undefined, true).then(function () {
          var wasPublished = n.c.status === 'published' && !n.removed;
          if (remove(n.c.id) && wasPublished) total = Math.max(0, total - 1);
          showCount();
          announce('Your comment was deleted.');
        });
      });
    }

    function askReport(n, btn) {
      var reason = el('select');
      reason.setAttribute('aria-label', 'Reason');
      ['Spam', 'Abuse or harassment', 'Hate speech', 'Misinformation', 'Off-topic'].forEach(function (r) {
        reason.appendChild(el('option', null, r));
      });
      confirmRow(n, 'Report this comment?', reason, 'Send report', function () {
        var path = ART + '/' + encodeURIComponent(n.c.id) + '/report';
        return call('POST', path, { reason: reason.value }, true).then(function () {
          n.reported = true;
          btn.textContent = 'Reported';
          btn.disabled = true;
          return 'Thanks. Our moderators will take a look.';
        });
      });
    }

    setInterval(function () {
      for (var id in byId) {
        byId[id].time.textContent = ago(byId[id].c.created_at);
        if (mine(byId[id].c)) actionsFor(byId[id]); // the Edit button goes when the window closes
      }
    }, 30000);

    start();
  }

  mount(script);
})();
