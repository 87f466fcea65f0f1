/* Media library: multi-file upload with progress (one request per file, so each file gets
   its own result) and "copier l'URL" buttons. Plain JavaScript, no dependencies. */
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Fallback for plain-HTTP pages where the Clipboard API is unavailable.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy failed")); }
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".copy-url");
    if (!button) { return; }
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    copyText(button.dataset.url).then(function () {
      button.textContent = "Copié ✓";
      button.classList.add("copied");
    }, function () {
      window.prompt("Copiez l'URL :", button.dataset.url);
    });
    window.setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 2500);
  });

  var form = document.querySelector("form.media-upload");
  if (!form) { return; }
  var input = form.querySelector("input[type=file]");
  var dropzone = form.querySelector(".dropzone");
  var results = form.querySelector(".upload-results");
  var maxBytes = parseInt(form.dataset.maxBytes, 10) || 0;
  var queue = [];
  var busy = false;

  function csrfToken() {
    var field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function row(file) {
    var li = document.createElement("li");
    li.className = "pending";
    var name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    var message = document.createElement("span");
    message.className = "message";
    message.textContent = "En attente…";
    li.append(name, bar, message);
    results.appendChild(li);
    return { li: li, bar: bar, message: message };
  }

  function finish(item, ok, text, detailUrl) {
    item.li.className = ok ? "success" : "error";
    item.bar.value = 100;
    item.message.textContent = text;
    if (detailUrl) {
      var link = document.createElement("a");
      link.href = detailUrl;
      link.textContent = "Voir";
      item.li.appendChild(link);
    }
  }

  function send(file, item) {
    return new Promise(function (resolve) {
      if (maxBytes && file.size > maxBytes) {
        finish(item, false, "« " + file.name + " » refusé : fichier trop volumineux.");
        resolve();
        return;
      }
      var data = new FormData();
      ["entity", "tags", "alt_text", "csrfmiddlewaretoken"].forEach(function (name) {
        var field = form.elements[name];
        if (field) { data.append(name, field.value); }
      });
      data.append("files", file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("action") || window.location.href);
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          item.bar.value = Math.round((e.loaded / e.total) * 100);
          item.message.textContent = "Envoi… " + item.bar.value + " %";
        }
      });
      xhr.addEventListener("load", function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        var target = new URL(form.getAttribute("action") || window.location.href, window.location.href);
        if (xhr.responseURL && new URL(xhr.responseURL).pathname !== target.pathname) {
          // Redirected elsewhere (the login page): the session has expired.
          finish(item, false, "« " + file.name + " » non envoyé : session expirée, reconnectez-vous.");
        } else if (body && body.message) {
          finish(item, !!body.ok, body.message, body.detail_url);
        } else if (xhr.status === 403) {
          finish(item, false, "« " + file.name + " » refusé : accès refusé.");
        } else {
          finish(item, false, "« " + file.name + " » : erreur du serveur (" + xhr.status + ").");
        }
        resolve();
      });
      xhr.addEventListener("error", function () {
        finish(item, false, "« " + file.name + " » : échec de l'envoi (connexion).");
        resolve();
      });
      item.message.textContent = "Envoi…";
      xhr.send(data);
    });
  }

  function pump() {
    if (busy || !queue.length) { return; }
    busy = true;
    var next = queue.shift();
    send(next.file, next.item).then(function () { busy = false; pump(); });
  }

  function add(files) {
    Array.prototype.forEach.call(files, function (file) {
      queue.push({ file: file, item: row(file) });
    });
    pump();
  }

  input.addEventListener("change", function () {
    add(input.files);
    input.value = "";
  });
  ["dragenter", "dragover"].forEach(function (type) {
    dropzone.addEventListener(type, function (e) { e.preventDefault(); dropzone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    dropzone.addEventListener(type, function (e) { e.preventDefault(); dropzone.classList.remove("over"); });
  });
  dropzone.addEventListener("drop", function (e) {
    if (e.dataTransfer && e.dataTransfer.files.length) { add(e.dataTransfer.files); }
  });
})();
