// Conveyor inside bull-board: its navigation on top, and the CSRF token on bull-board's own API calls.
(function () {
  'use strict';
  var meta = document.querySelector('meta[name=conveyor-csrf]');
  var token = meta ? meta.getAttribute('content') : '';
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
    brand.href = '/';
    brand.className = 'cv-brand';
    brand.textContent = 'Conveyor';
    el.appendChild(brand);
    var nav = document.createElement('nav');
    LINKS.forEach(function (l) {
      var a = document.createElement('a');
      a.href = l[0];
      a.textContent = l[1];
      if (l[0] === '/queues') a.className = 'current';
      nav.appendChild(a);
    });
    el.appendChild(nav);
    var who = document.querySelector('meta[name=conveyor-user]');
    var user = who ? who.getAttribute('content') : '';
    if (user && user !== 'local') {
      var form = document.createElement('form');
      form.method = 'post';
      form.action = '/logout';
      var hidden = document.createElement('input');
      hidden.type = 'hidden';
      hidden.name = '_csrf';
      hidden.value = token;
      var button = document.createElement('button');
      button.type = 'submit';
      button.textContent = 'Log out';
      var name = document.createElement('span');
      name.textContent = user + (who.getAttribute('data-role') === 'read' ? ' (read-only)' : '');
      form.appendChild(name);
      form.appendChild(hidden);
      form.appendChild(button);
      el.appendChild(form);
    }
    document.body.insertBefore(el, document.body.firstChild);
    document.documentElement.classList.add('conveyor-framed');
  }
  if (document.body) bar();
  else document.addEventListener('DOMContentLoaded', bar);
})();
