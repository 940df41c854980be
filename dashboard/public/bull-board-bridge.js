// Conveyor inside bull-board: its navigation on top, and the CSRF token on bull-board's own API calls.
(function () {
  'use strict';
  var meta = document.querySelector('meta[name=conveyor-csrf]');
  var token = meta ? meta.getAttribute('content') : '';
  // Where the dashboard is mounted ('' at the root): every link starts with it.
  var baseMeta = document.querySelector('meta[name=conveyor-base]');
  var base = baseMeta ? baseMeta.getAttribute('content') : '';
  var SAFE = /^(GET|HEAD|OPTIONS)$/i;

  // bull-board talks to its API with XMLHttpRequest (axios); fetch is patched too, for later versions.
  var open = XMLHttpRequest.prototype.open;
  var send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method) {
    this.__conveyorMethod = method;
    return open.apply(this, arguments);
  };
  XMLHttpRequest.prototype.send = function () {
    if (token && !SAFE.test(this.__conveyorMethod || 'GET')) this.setRequestHeader('x-csrf-token', token);
    return send.apply(this, arguments);
  };
  if (window.fetch) {
    var f = window.fetch;
    window.fetch = function (input, init) {
      init = init || {};
      var method = init.method || (input && input.method) || 'GET';
      if (token && !SAFE.test(method)) {
        var h = new Headers(init.headers || (input && input.headers) || {});
        h.set('x-csrf-token', token);
        init.headers = h;
      }
      return f.call(this, input, init);
    };
  }

  var LINKS = [['/', 'Overview'], ['/queues', 'Queues'], ['/workers', 'Workers'], ['/dead', 'Dead letters'], ['/search', 'Search'], ['/schedules', 'Schedules'], ['/redis', 'Redis'], ['/audit', 'Audit log']];
  function bar() {
    var el = document.createElement('header');
    el.id = 'conveyor-bar';
    var brand = document.createElement('a');
    brand.href = base + '/';
    brand.className = 'cv-brand';
    brand.textContent = 'Conveyor';
    el.appendChild(brand);
    var nav = document.createElement('nav');
    LINKS.forEach(function (l) {
      var a = document.createElement('a');
      a.href = base + l[0];
      a.textContent = l[1];
      if (l[0] === '/queues') a.className = 'current';
      nav.appendChild(a);
    });
    el.appendChild(nav);
    // The user (none for the local admin of the no-login mode); a logout button when Conveyor's own login is on.
    var who = document.querySelector('meta[name=conveyor-user]');
    var user = who ? who.getAttribute('content') : '';
    if (user) {
      var logout = who.hasAttribute('data-logout');
      var box = document.createElement(logout ? 'form' : 'div');
      box.className = 'cv-user';
      var name = document.createElement('span');
      name.textContent = user + (who.getAttribute('data-role') === 'read' ? ' (read-only)' : '');
      box.appendChild(name);
      if (logout) {
        box.method = 'post';
        box.action = base + '/logout';
        var hidden = document.createElement('input');
        hidden.type = 'hidden';
        hidden.name = '_csrf';
        hidden.value = token;
        var button = document.createElement('button');
        button.type = 'submit';
        button.textContent = 'Log out';
        box.appendChild(hidden);
        box.appendChild(button);
      }
      el.appendChild(box);
    }
    document.body.insertBefore(el, document.body.firstChild);
    document.documentElement.classList.add('conveyor-framed');
  }
  if (document.body) bar();
  else document.addEventListener('DOMContentLoaded', bar);
})();
