/* RDZ — script du formulaire « {{ code }} » (généré, sans dépendance).
 * Usage : <script src="{{ script_url }}" async></script>
 * et un <form data-rdz-form="{{ code }}"> avec les champs phone, departement, first_name,
 * last_name, email, consent (case à cocher, ou radio / liste : « oui », « 1 », « true » valent accord) ;
 * tout autre champ nommé part dans `extra`.
 * Facultatif : [data-rdz-success] (message affiché après envoi), [data-rdz-error-for="phone"]
 * (emplacement d'une erreur), [data-rdz-show-variant="B"] (bloc propre à une variante),
 * data-rdz-consent-version="v3" sur le <form>.
 */
(function () {
  "use strict";
  var CFG = {{ config_json }};
  var registry = (window.__rdz = window.__rdz || {});
  if (registry[CFG.code]) { return; }
  registry[CFG.code] = true;

  var HP = CFG.honeypot;
  var STANDARD = ["phone", "departement", "first_name", "last_name", "email", "source"];
  // A checkbox consents when checked; a radio button, a select or a hidden field by its value
  // (« Non » is a value too: only these words say yes).
  var CONSENT_YES = /^\s*(1|true|on|yes|y|oui|o|vrai)\s*$/i;
  var MSG = {
    success: "Merci ! Votre demande a bien été envoyée.",
    invalid: "Merci de corriger les champs indiqués.",
    throttled: "Trop d'envois en peu de temps : réessayez dans une minute.",
    network: "Envoi impossible : vérifiez votre connexion puis réessayez.",
    server: "Une erreur est survenue : réessayez dans quelques instants."
  };

  function read(key) {
    try { var v = window.localStorage.getItem(key); if (v) { return v; } } catch (e) { /* storage blocked */ }
    var m = document.cookie.match(new RegExp("(?:^|; )" + key + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }
  function write(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* storage blocked */ }
    document.cookie = key + "=" + encodeURIComponent(value) + "; path=/; max-age=31536000; SameSite=Lax";
  }
  function randomId() {
    var bytes = new Uint8Array(16), out = "", i;
    if (window.crypto && window.crypto.getRandomValues) { window.crypto.getRandomValues(bytes); }
    else { for (i = 0; i < 16; i++) { bytes[i] = Math.floor(Math.random() * 256); } }
    for (i = 0; i < 16; i++) { out += (bytes[i] + 256).toString(16).slice(1); }
    return out;
  }

  // Visitor id, shared by every page of the site (same origin storage).
  var visitor = read("rdz_vid");
  if (!/^[A-Za-z0-9_-]{8,64}$/.test(visitor)) { visitor = randomId(); write("rdz_vid", visitor); }

  // Sticky A/B variant, drawn once by weight.
  function pickVariant() {
    var key = "rdz_variant_" + CFG.code, saved = read(key), total = 0, i, names = [];
    for (i = 0; i < CFG.variants.length; i++) { names.push(CFG.variants[i].name); total += CFG.variants[i].weight; }
    if (!names.length) { return ""; }
    if (names.indexOf(saved) >= 0) { return saved; }
    var r = Math.random() * total, chosen = names[names.length - 1];
    for (i = 0; i < CFG.variants.length; i++) {
      r -= CFG.variants[i].weight;
      if (r < 0) { chosen = CFG.variants[i].name; break; }
    }
    write(key, chosen);
    return chosen;
  }
  var variant = pickVariant();

  function post(path, body, keepalive) {
    return window.fetch(CFG.api + path, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      keepalive: !!keepalive,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    });
  }
  function track(event) {
    if (!CFG.active) { return; }  // a deactivated form counts no visits, but still sends its leads
    var body = { form: CFG.code, event: event, visitor_id: visitor, variant: variant };
    post("/api/v1/track/?form=" + encodeURIComponent(CFG.code), body, true).catch(function () { /* best effort */ });
  }

  // At most n characters, never half of an emoji (a lone surrogate is refused by the server).
  function cut(text, n) {
    text = text.slice(0, n);
    return /[\uD800-\uDBFF]$/.test(text) ? text.slice(0, -1) : text;
  }

  function utmSource() {
    var m = window.location.search.match(/[?&]utm_source=([^&]*)/), raw;
    if (!m) { return ""; }
    raw = m[1].replace(/\+/g, " ");
    // A malformed escape (« %E9 » from a Latin-1 link, a bare « 50% ») must not stop the submission.
    try { raw = decodeURIComponent(raw); } catch (e) { /* kept as written */ }
    return cut(raw, 100);
  }

  function collect(form) {
    var body = {
      extra: {},
      visitor_id: visitor,
      variant: variant,
      consent: false,
      consent_page_url: cut(window.location.href, 500),
      consent_text_version: form.getAttribute("data-rdz-consent-version") || ""
    };
    var source = utmSource();
    if (source) { body.source = source; }
    for (var i = 0; i < form.elements.length; i++) {
      var el = form.elements[i], name = el.name, type = (el.type || "").toLowerCase();
      if (!name || el.disabled || name === HP || type === "submit" || type === "button" || type === "file") { continue; }
      if (type === "radio" && !el.checked) { continue; }
      var value = type === "checkbox" ? el.checked : el.value;
      if (name === "consent") { body.consent = type === "checkbox" ? value : CONSENT_YES.test(value); }
      else if (STANDARD.indexOf(name) >= 0) { body[name] = value; }
      else if (name.indexOf("extra.") === 0) { body.extra[name.slice(6)] = value; }
      else { body.extra[name] = value; }
    }
    return body;
  }

  function fieldOf(form, name) {
    return form.querySelector('[name="' + name + '"]') || form.querySelector('[name="extra.' + name + '"]');
  }
  function errorBox(form, name, anchor) {
    var box = form.querySelector('[data-rdz-error-for="' + name + '"]');
    if (!box) {
      box = document.createElement("div");
      box.className = "rdz-error";
      box.setAttribute("data-rdz-error-for", name);
      box.setAttribute("role", "alert");
      box.style.color = "#b00020";
      if (anchor) { anchor.parentNode.insertBefore(box, anchor.nextSibling); }
      else { form.insertBefore(box, form.firstChild); }
    }
    box.hidden = false;
    box.style.display = "";
    return box;
  }
  function clearErrors(form) {
    var boxes = form.querySelectorAll("[data-rdz-error-for]"), i;
    for (i = 0; i < boxes.length; i++) { boxes[i].textContent = ""; boxes[i].hidden = true; boxes[i].style.display = "none"; }
    var bad = form.querySelectorAll('[aria-invalid="true"]');
    for (i = 0; i < bad.length; i++) { bad[i].removeAttribute("aria-invalid"); }
  }
  function showGlobal(form, text) { errorBox(form, "__all__", null).textContent = text; }
  function showErrors(form, errors) {
    var global = [], name, messages, el, i;
    for (name in errors) {
      if (!Object.prototype.hasOwnProperty.call(errors, name)) { continue; }
      messages = [].concat(errors[name]);
      if (name === "extra") {
        // "surface : un nombre entier est attendu." → next to the field `surface` when present.
        for (i = 0; i < messages.length; i++) {
          var field = String(messages[i]).split(" : ")[0];
          el = fieldOf(form, field);
          if (el) { el.setAttribute("aria-invalid", "true"); errorBox(form, field, el).textContent = messages[i]; }
          else { global.push(messages[i]); }
        }
        continue;
      }
      el = name === "non_field_errors" ? null : fieldOf(form, name);
      if (el) { el.setAttribute("aria-invalid", "true"); errorBox(form, name, el).textContent = messages.join(" "); }
      else { global.push(messages.join(" ")); }
    }
    showGlobal(form, global.length ? global.join(" ") : MSG.invalid);
  }
  function setBusy(form, busy) {
    var buttons = form.querySelectorAll('button, input[type="submit"]');
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = busy; }
    form.setAttribute("aria-busy", busy ? "true" : "false");
  }
  function succeed(form, data) {
    form.setAttribute("data-rdz-state", "sent");
    if (data && data.id) { form.setAttribute("data-rdz-lead", data.id); }
    var box = form.querySelector("[data-rdz-success]") || document.querySelector('[data-rdz-success="' + CFG.code + '"]');
    if (!box) {
      box = document.createElement("p");
      box.className = "rdz-success";
      box.textContent = MSG.success;
      form.parentNode.insertBefore(box, form);
    }
    box.setAttribute("role", "status");
    box.hidden = false;
    box.style.display = "";
    if (!form.contains(box)) { form.hidden = true; form.style.display = "none"; }
    try { form.dispatchEvent(new CustomEvent("rdz:success", { detail: data || {} })); } catch (e) { /* old browser */ }
  }

  function addHoneypot(form) {
    if (form.querySelector('[name="' + HP + '"]')) { return; }
    var wrap = document.createElement("div");
    wrap.setAttribute("aria-hidden", "true");
    wrap.style.cssText = "position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden;";
    var input = document.createElement("input");
    input.type = "text";
    input.name = HP;
    input.tabIndex = -1;
    input.autocomplete = "off";
    wrap.appendChild(input);
    form.appendChild(wrap);
  }

  function attach(form) {
    var started = false, busy = false, done = false;
    addHoneypot(form);
    function start() { if (!started) { started = true; track("start"); } }
    form.addEventListener("focusin", start);
    form.addEventListener("input", start);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy || done) { return; }  // double click, double Enter
      clearErrors(form);
      var trap = form.querySelector('[name="' + HP + '"]');
      if (trap && trap.value) { done = true; succeed(form, null); return; }
      busy = true;
      setBusy(form, true);
      post("/api/v1/forms/" + encodeURIComponent(CFG.code) + "/submit/", collect(form), false)
        .then(function (response) {
          return response.json().catch(function () { return {}; }).then(function (data) {
            return { status: response.status, data: data };
          });
        })
        .then(function (res) {
          busy = false;
          if (res.status === 200 || res.status === 201) { done = true; succeed(form, res.data); return; }
          setBusy(form, false);
          if (res.status === 400) { showErrors(form, res.data || {}); }
          else if (res.status === 429) { showGlobal(form, MSG.throttled); }
          else { showGlobal(form, MSG.server); }
        }, function () {
          busy = false;
          setBusy(form, false);
          showGlobal(form, MSG.network);
        });
    });
  }

  function init() {
    document.documentElement.setAttribute("data-rdz-variant", variant);
    var blocks = document.querySelectorAll("[data-rdz-show-variant]"), i;
    for (i = 0; i < blocks.length; i++) { blocks[i].hidden = blocks[i].getAttribute("data-rdz-show-variant") !== variant; }
    track("visit");
    var forms = document.querySelectorAll('form[data-rdz-form="' + CFG.code + '"]');
    for (i = 0; i < forms.length; i++) { attach(forms[i]); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); }
  else { init(); }
})();
