/* The moderator console's admin part: the site's settings page (docs/api.md, "Site
 * settings"), shown to admins only, and the g-then-key view shortcuts. Plain JavaScript,
 * no build step; it builds on moderation.js's sign-in event. Values reach the page
 * through textContent and form values only. */
(function () {
  'use strict';

  var $ = function (id) { return document.getElementById(id); };
  var call = null;
  var me = null;
  var current = null; // the settings as the server last answered
  var pendingG = false;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  // Fields of the page: [key, label, kind, help, choices]. Kinds: words (one per line),
  // bool, int, choice (a select of choices), thresholds (label=value lines), json.
  var FIELDS = [
    ['thresholds', 'Thresholds per label', 'thresholds', 'One label=value per line (0 < value \u2264 1, or off).'],
    ['banned_words', 'Banned words', 'words', 'Refuse a comment that has one. One per line.'],
    ['suspect_words', 'Suspect words', 'words', 'Hold a comment that has one. One per line.'],
    ['premoderated', 'Pre-moderate the whole site', 'bool', 'Every new comment waits for a moderator.'],
    ['premoderate_new_authors', 'Pre-moderate new authors', 'bool', 'Comments of authors with no approved comment yet wait for a moderator.'],
    ['hold_links_from_new_authors', 'Hold links from new authors', 'bool', 'A comment with a link from an author with no approved comment yet waits for a moderator.'],
    ['reports_before_review', 'Reports before review', 'int', 'Reports that send a published comment to the queue.'],
    ['guests', 'Take comments from guests', 'bool', 'Readers without an account may comment.'],
    ['origins', 'Allowed origins', 'words', 'Pages that may embed the comments, one per line (https://news.example).'],
    ['posts_per_minute_per_author', 'Posts a minute per author', 'int', 'A sliding minute; 0 = no limit.'],
    ['posts_per_minute_per_ip', 'Posts a minute per address', 'int', 'A sliding minute; 0 = no limit.'],
    ['likes_per_minute_per_reader', 'Likes a minute per reader', 'int', 'A budget apart from posts; 0 = no limit.'],
    ['likes_per_minute_per_ip', 'Likes a minute per address', 'int', 'A budget apart from posts; 0 = no limit.'],
    ['edit_window_s', 'Edit window, seconds', 'int', 'How long authors may edit a comment; 0 = no editing.'],
    ['reply_depth', 'Reply depth', 'int', 'Levels of nested replies, 1 to 10.'],
    ['default_order', 'Default order', 'choice', 'The widget\u2019s order until the reader picks one.', ['newest', 'oldest', 'top']],
    ['quiet_hours', 'Quiet hours', 'json',
      'JSON: {"timezone": "Europe/Berlin", "windows": [{"days": ["sat","sun"], "start": "22:00", "end": "06:00"}]}, or null.']
  ];

  function build() {
    if ($('tab-settings')) return;
    var tab = el('button', null, 'Settings');
    tab.type = 'button';
    tab.id = 'tab-settings';
    tab.setAttribute('role', 'tab');
    tab.setAttribute('aria-controls', 'settings-panel');
    tab.setAttribute('aria-selected', 'false');
    tab.tabIndex = -1;
    document.querySelector('.tabs').appendChild(tab);

    var panel = el('div');
    panel.id = 'settings-panel';
    panel.setAttribute('role', 'tabpanel');
    panel.setAttribute('aria-labelledby', 'tab-settings');
    panel.hidden = true;
    var form = el('form', 'settings');
    form.id = 'settings-form';
    form.noValidate = true;
    form.appendChild(el('p', 'muted', 'Site settings, as `comments site set` takes them. Every change is in the audit log.'));
    FIELDS.forEach(function (f) {
      var id = 'set-' + f[0];
      var row = el('div', 'field');
      var input;
      if (f[2] === 'bool') {
        var label = el('label', 'check');
        input = el('input');
        input.type = 'checkbox';
        label.appendChild(input);
        label.appendChild(document.createTextNode(' ' + f[1]));
        row.appendChild(label);
      } else {
        var l = el('label', null, f[1]);
        l.htmlFor = id;
        row.appendChild(l);
        input = f[2] === 'int' ? el('input') : el(f[2] === 'choice' ? 'select' : 'textarea');
        if (f[2] === 'int') { input.type = 'number'; input.min = '0'; }
        else if (f[2] === 'choice') f[4].forEach(function (c) { input.appendChild(el('option', null, c)); });
        else input.rows = f[2] === 'json' ? 4 : 3;
        input.spellcheck = false;
        row.appendChild(input);
      }
      input.id = id;
      input.name = f[0];
      var help = el('p', 'muted small', f[3]);
      help.id = id + '-help';
      input.setAttribute('aria-describedby', help.id);
      row.appendChild(help);
      form.appendChild(row);
    });
    var error = el('p', 'error');
    error.id = 'settings-error';
    error.setAttribute('role', 'alert');
    form.appendChild(error);
    var save = el('button', 'primary', 'Save settings');
    save.type = 'submit';
    save.id = 'settings-save';
    form.appendChild(save);
    panel.appendChild(form);
    // The site's webhooks and their delivery logs (read only: `comments webhook` manages
    // them; docs/api.md, "Webhooks").
    var hooks = el('section', 'webhooks');
    hooks.id = 'webhooks';
    hooks.setAttribute('aria-labelledby', 'webhooks-title');
    var title = el('h2', null, 'Webhooks');
    title.id = 'webhooks-title';
    hooks.appendChild(title);
    var list = el('ul', 'hooks');
    list.id = 'webhook-list';
    hooks.appendChild(list);
    var log = el('table', 'deliveries');
    log.id = 'webhook-log';
    log.hidden = true;
    hooks.appendChild(log);
    panel.appendChild(hooks);
    $('audit-panel').parentNode.appendChild(panel);

    tab.addEventListener('click', function () { showSettings(); });
    $('tab-queue').addEventListener('click', hideSettings);
    $('tab-audit').addEventListener('click', hideSettings);
    form.addEventListener('submit', function (e) { e.preventDefault(); saveSettings(); });
  }

  function showSettings() {
    ['tab-queue', 'tab-audit'].forEach(function (id) {
      $(id).setAttribute('aria-selected', 'false');
      $(id).tabIndex = -1;
    });
    $('queue-panel').hidden = true;
    $('audit-panel').hidden = true;
    $('tab-settings').setAttribute('aria-selected', 'true');
    $('tab-settings').tabIndex = 0;
    $('settings-panel').hidden = false;
    loadSettings();
    loadWebhooks();
  }

  function hooksPath(rest) {
    return '/moderation/sites/' + encodeURIComponent(me.site) + '/webhooks' + (rest || '');
  }

  function loadWebhooks() {
    var list = $('webhook-list');
    return call('GET', hooksPath()).then(function (data) {
      list.textContent = '';
      var hooks = data.webhooks || [];
      if (!hooks.length) list.appendChild(el('li', 'muted', 'No webhooks. Add one with `comments webhook add`.'));
      hooks.forEach(function (h) {
        var li = el('li');
        li.appendChild(el('span', 'hook-url', h.url));
        li.appendChild(el('span', 'muted', ' · ' + (h.events || []).join(', ')));
        var show = el('button', 'ghost', 'Delivery log');
        show.type = 'button';
        show.setAttribute('aria-label', 'Delivery log of ' + h.url);
        show.addEventListener('click', function () { loadDeliveries(h.id); });
        li.appendChild(document.createTextNode(' '));
        li.appendChild(show);
        list.appendChild(li);
      });
    }, function () { list.textContent = ''; });
  }

  function loadDeliveries(id) {
    return call('GET', hooksPath('/' + encodeURIComponent(id) + '/deliveries')).then(function (data) {
      var table = $('webhook-log');
      table.textContent = '';
      var head = el('tr');
      ['Event', 'Status', 'Attempts', 'Last answer', 'Last error', 'Created', 'Next attempt'].forEach(function (h) {
        head.appendChild(el('th', null, h));
      });
      table.appendChild(head);
      (data.deliveries || []).forEach(function (d) {
        var tr = el('tr', 'delivery ' + d.status);
        [d.event, d.status, String(d.attempts), d.last_status == null ? '–' : String(d.last_status),
          d.last_error || '', d.created_at || '', d.next_attempt_at || ''].forEach(function (v) {
          tr.appendChild(el('td', null, v));
        });
        table.appendChild(tr);
      });
      table.hidden = false;
    });
  }

  function hideSettings() {
    if (!$('tab-settings')) return;
    $('tab-settings').setAttribute('aria-selected', 'false');
    $('tab-settings').tabIndex = -1;
    $('settings-panel').hidden = true;
  }

  function path() { return '/moderation/sites/' + encodeURIComponent(me.site) + '/settings'; }

  function shown(kind, value) {
    if (kind === 'words') return (value || []).join('\n');
    if (kind === 'thresholds') {
      return Object.keys(value || {}).map(function (k) { return k + '=' + value[k]; }).join('\n');
    }
    if (kind === 'json') return value == null ? 'null' : JSON.stringify(value);
    return value == null ? '' : String(value);
  }

  function fill(settings) {
    current = settings;
    FIELDS.forEach(function (f) {
      var input = $('set-' + f[0]);
      if (f[2] === 'bool') input.checked = !!settings[f[0]];
      else input.value = shown(f[2], settings[f[0]]);
    });
  }

  function loadSettings() {
    $('settings-error').textContent = '';
    return call('GET', path()).then(function (data) { fill(data.settings); }, function (e) {
      if (e.status !== 401) $('settings-error').textContent = e.message;
    });
  }

  function read(f) {
    var input = $('set-' + f[0]);
    if (f[2] === 'bool') return input.checked;
    var text = input.value.trim();
    if (f[2] === 'int') return text === '' ? null : Number(text);
    if (f[2] === 'choice') return text;
    if (f[2] === 'words') return text.split('\n').map(function (s) { return s.trim(); }).filter(Boolean);
    if (f[2] === 'thresholds') {
      var out = {};
      text.split('\n').map(function (s) { return s.trim(); }).filter(Boolean).forEach(function (line) {
        var at = line.indexOf('=');
        var label = at < 0 ? line : line.slice(0, at).trim();
        var v = at < 0 ? '' : line.slice(at + 1).trim();
        out[label] = v.toLowerCase() === 'off' ? 'off' : (v === '' || isNaN(Number(v)) ? v : Number(v));
      });
      return out;
    }
    if (text === '' || text === 'null') return null;
    try { return JSON.parse(text); } catch (e) { throw new Error(f[1] + ': not valid JSON (' + e.message + ')'); }
  }

  function saveSettings() {
    var error = $('settings-error');
    error.textContent = '';
    var changes = {};
    try {
      FIELDS.forEach(function (f) {
        var value = read(f);
        // Only what changed: the audit log then names just that.
        if (JSON.stringify(value) !== JSON.stringify(current[f[0]])) changes[f[0]] = value;
      });
    } catch (e) { error.textContent = e.message; return; }
    if (!Object.keys(changes).length) { error.textContent = 'Nothing changed.'; return; }
    $('settings-save').disabled = true;
    call('PATCH', path(), changes).then(function (data) {
      fill(data.settings);
      var live = $('queue-live');
      if (live) live.textContent = 'Settings saved.';
      var toast = $('toast');
      toast.className = 'toast show ok';
      toast.textContent = 'Settings saved: ' + Object.keys(changes).join(', ').replace(/_/g, ' ') + '.';
    }, function (e) {
      if (e.status !== 401) error.textContent = e.message;
    }).then(function () { $('settings-save').disabled = false; });
  }

  document.addEventListener('comments:signin', function (e) {
    me = e.detail.me;
    call = e.detail.call;
    if (me.role === 'admin') build();
    else if ($('tab-settings')) { hideSettings(); $('tab-settings').hidden = true; }
    if ($('tab-settings') && me.role === 'admin') $('tab-settings').hidden = false;
    if ((me.scopes || []).length) {
      var ident = document.querySelector('.ident');
      if (ident && !$('who-scopes')) {
        var s = el('span', 'muted', ' \u00b7 sections: ' + me.scopes.join(', '));
        s.id = 'who-scopes';
        ident.appendChild(s);
      }
    }
  });
  document.addEventListener('comments:signout', function () {
    me = null;
    hideSettings();
    var s = $('who-scopes');
    if (s) s.remove();
  });

  // g then q / l / s: queue, audit log, settings (any view; not while typing).
  document.addEventListener('keydown', function (e) {
    if (!me || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if ((t && /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) || document.querySelector('dialog[open]')) return;
    if (!pendingG) { if (e.key === 'g') { pendingG = true; e.preventDefault(); } return; }
    pendingG = false;
    var target = { q: 'tab-queue', l: 'tab-audit', s: 'tab-settings' }[e.key];
    if (!target || !$(target) || $(target).hidden) return;
    e.preventDefault();
    $(target).click();
    $(target).focus();
  });
})();
