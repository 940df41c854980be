// Conveyor board: a little progressive enhancement. Every page works without it.
(function () {
  'use strict';

  // Where the dashboard is mounted ('' at the root; the page says so, the CSP allows no inline script).
  var baseMeta = document.querySelector('meta[name=conveyor-base]');
  var base = baseMeta ? baseMeta.getAttribute('content') : '';

  function relative(ms) {
    var diff = ms - Date.now();
    if (Math.abs(diff) < 5000) return 'just now';
    var s = Math.round(Math.abs(diff) / 1000);
    var t = s < 60 ? s + ' s' : s < 3600 ? Math.round(s / 60) + ' min' : s < 86400 ? Math.round(s / 3600) + ' h' : Math.round(s / 86400) + ' d';
    return diff < 0 ? t + ' ago' : 'in ' + t;
  }

  // Relative times stay fresh; hovering shows the local time beside UTC.
  function refreshTimes(root) {
    root.querySelectorAll('time[data-rel]').forEach(function (el) {
      var ms = Date.parse(el.getAttribute('datetime'));
      if (!isNaN(ms)) el.textContent = relative(ms);
      if (!el.dataset.local) {
        el.dataset.local = '1';
        el.title = new Date(ms).toLocaleString() + ' (your time) · ' + el.title;
      }
    });
  }

  // Forms that ask first: <form data-confirm="Stop every worker?">
  document.addEventListener('submit', function (e) {
    var form = e.target;
    var msg = form.getAttribute && form.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) e.preventDefault();
  }, true);

  // Checkbox selection: "select all" and a live count that enables the bulk buttons.
  function updateSelection(form) {
    var boxes = form.querySelectorAll('input[type=checkbox][name=job]');
    var n = 0;
    boxes.forEach(function (b) { if (b.checked) n++; });
    form.querySelectorAll('[data-selected-count]').forEach(function (el) {
      el.textContent = n === 0 ? 'None selected' : n + ' selected';
    });
    form.querySelectorAll('[data-needs-selection]').forEach(function (b) { b.disabled = n === 0; });
    var all = form.querySelector('input[data-select-all]');
    if (all) {
      all.checked = n > 0 && n === boxes.length;
      all.indeterminate = n > 0 && n < boxes.length;
    }
  }
  document.addEventListener('change', function (e) {
    var t = e.target;
    var form = t.form;
    if (!form) return;
    if (t.hasAttribute('data-select-all')) {
      form.querySelectorAll('input[type=checkbox][name=job]').forEach(function (b) { b.checked = t.checked; });
    }
    if (t.name === 'job' || t.hasAttribute('data-select-all')) updateSelection(form);
  });
  document.querySelectorAll('form[data-selection]').forEach(updateSelection);

  // Live regions: <div data-live="5" id="x"> is refetched every 5 s while the tab is visible,
  // unless the user is typing in it or has selected something in it.
  var live = document.querySelectorAll('[data-live]');
  var toggle = document.querySelector('[data-live-toggle]');
  var paused = false;
  try { paused = localStorage.getItem('conveyor-live') === 'off'; } catch (_) { /* private mode */ }
  function showToggle() {
    if (!toggle) return;
    toggle.classList.toggle('paused', paused);
    toggle.querySelector('[data-live-label]').textContent = paused ? 'Live updates paused' : 'Live';
    toggle.title = paused ? 'Click to resume live updates' : 'Click to pause live updates';
  }
  if (toggle) {
    showToggle();
    toggle.addEventListener('click', function () {
      paused = !paused;
      try { localStorage.setItem('conveyor-live', paused ? 'off' : 'on'); } catch (_) { /* ignore */ }
      showToggle();
    });
  }
  function busy(el) {
    var a = document.activeElement;
    if (a && el.contains(a) && /INPUT|SELECT|TEXTAREA/.test(a.tagName)) return true;
    return !!el.querySelector('input[type=checkbox]:checked');
  }
  live.forEach(function (el) {
    var every = Math.max(2, Number(el.getAttribute('data-live')) || 5) * 1000;
    setInterval(function () {
      if (paused || document.hidden || busy(el)) return;
      fetch(location.href, { headers: { accept: 'text/html' }, credentials: 'same-origin' })
        .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var doc = new DOMParser().parseFromString(html, 'text/html');
          var fresh = el.id ? doc.getElementById(el.id) : null;
          if (fresh && !busy(el)) {
            el.innerHTML = fresh.innerHTML;
            refreshTimes(el);
          }
        })
        .catch(function () { /* next time */ });
    }, every);
  });

  // Schedule form: the next runs (or the cron error) as you type.
  var cron = document.querySelector('[data-cron-input]');
  var tz = document.querySelector('[data-tz-input]');
  var preview = document.querySelector('[data-cron-preview]');
  if (cron && preview) {
    var timer;
    var run = function () {
      var q = new URLSearchParams({ cron: cron.value, tz: tz ? tz.value : 'UTC' });
      fetch(base + '/schedules/preview?' + q, { headers: { accept: 'application/json' }, credentials: 'same-origin' })
        .then(function (r) { return r.json(); })
        .then(function (j) {
          preview.innerHTML = '';
          preview.className = j.error ? 'error' : 'help';
          if (j.error) { preview.textContent = j.error; return; }
          preview.textContent = 'Next runs: ' + j.nextRuns.map(function (t) { return new Date(t).toLocaleString(); }).join(' · ');
        })
        .catch(function () { /* keep the last answer */ });
    };
    [cron, tz].forEach(function (el) {
      if (el) el.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(run, 300); });
    });
  }

  refreshTimes(document);
  setInterval(function () { refreshTimes(document); }, 15000);
})();
