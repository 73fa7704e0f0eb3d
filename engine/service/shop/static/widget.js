/* Vitrina storefront widget: one script tag renders recommendation carousels and logs what shoppers see.
 *   <script src="https://reco.example.com/widget.js" data-vitrina="similar" data-product="SKU" async></script>
 * or any element <div data-vitrina="look|fbt|similar|personalized|trending|search" data-product="SKU"></div>,
 * or <div data-vitrina="query" data-query="search text"></div> for the results of a shopper's text search.
 * Optional: data-limit, data-lang (else <html lang>, else English), data-link ("/p/{sku}?from={list}:{pos}"),
 * data-currency (ISO code). Product text goes in with textContent only. Impressions are logged when a tile
 * is at least half visible, once per tile; events are batched and sent with sendBeacon when the page hides.
 * A failed or empty list renders nothing and logs nothing. */
(function () {
  "use strict";
  var W = window, D = document;
  if (W.Vitrina && W.Vitrina.loaded) { W.Vitrina.scan(); return; }
  var me = D.currentScript;
  var BASE = (me && me.src ? new URL(me.src, location.href).origin : location.origin);
  var REASONS = /*REASONS*/{};
  var TEXT = {
    en: {similar: "Similar items", look: "Complete the look", fbt: "Frequently bought together",
         personalized: "Picked for you", trending: "Trending now", search: "Search by photo",
         pick: "Choose a photo", results: "Looks like your photo", prev: "Previous", next: "Next",
         busy: "Searching…", failed: "That photo could not be searched.", query: "Search results",
         loose: "Nothing matches well; loosely related"},
    ru: {similar: "Похожие товары", look: "Дополните образ", fbt: "Часто покупают вместе",
         personalized: "Подобрано для вас", trending: "Сейчас популярно", search: "Поиск по фото",
         pick: "Выбрать фото", results: "Похоже на ваше фото", prev: "Назад", next: "Вперёд",
         busy: "Ищем…", failed: "По этому фото искать не удалось.", query: "Результаты поиска",
         loose: "Точных совпадений нет; похожие товары"},
    tr: {similar: "Benzer ürünler", look: "Kombini tamamla", fbt: "Birlikte sık alınanlar",
         personalized: "Sizin için seçtik", trending: "Şu an trend", search: "Fotoğrafla ara",
         pick: "Fotoğraf seç", results: "Fotoğrafınıza benzeyenler", prev: "Önceki", next: "Sonraki",
         busy: "Aranıyor…", failed: "Bu fotoğrafla arama yapılamadı.", query: "Arama sonuçları",
         loose: "Tam eşleşme yok; ilgili ürünler"}
  };
  var ID = /^[A-Za-z0-9_-]{8,64}$/;
  var queue = [], seen = {};

  function cookie(name, days) {
    var m = D.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    if (m && ID.test(m[1])) return m[1];
    var v = (W.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now());
    v = v.replace(/[^A-Za-z0-9_-]/g, "");
    D.cookie = name + "=" + v + "; path=/; SameSite=Lax" + (days ? "; max-age=" + days * 86400 : "");
    return v;
  }
  var shopper = cookie("vitrina_shopper", 365), session = cookie("vitrina_session", 0);

  function lang(el) {
    var l = (el.getAttribute("data-lang") || D.documentElement.lang || "en").slice(0, 2).toLowerCase();
    return TEXT[l] ? l : "en";
  }

  function reason(text, l) {
    var r = REASONS[text];
    return r ? (r[l] || r.en) : text;
  }

  function price(v, l, currency) {
    try {
      return new Intl.NumberFormat(l, currency ? {style: "currency", currency: currency}
                                              : {minimumFractionDigits: 2, maximumFractionDigits: 2}).format(v);
    } catch (e) { return Number(v).toFixed(2); }
  }

  function el(tag, cls, text) {
    var e = D.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }

  function send() {
    if (!queue.length) return;
    var batch = queue.splice(0, 1000), body = JSON.stringify(batch), url = BASE + "/api/events/";
    var ok = false;
    try { ok = navigator.sendBeacon && navigator.sendBeacon(url, body); } catch (e) { ok = false; }
    if (!ok) {
      try { fetch(url, {method: "POST", body: body, keepalive: true, mode: "cors",
                        headers: {"Content-Type": "text/plain"}}).catch(function () {}); } catch (e) { /* dropped */ }
    }
  }

  function track(kind, list, pos, item, extra) {
    if (!list || list.preview) return;
    var ev = {kind: kind, session_id: session, user_id: shopper, sku: item.sku, request_id: list.request_id,
              position: pos, algorithm: list.algorithm, strategy: list.strategy || null,
              config_version: list.config_version};
    for (var k in extra || {}) ev[k] = extra[k];
    queue.push(ev);
    if (queue.length >= 20) send();
  }

  function link(tpl, list, pos, item) {
    return tpl.replace(/\{sku\}/g, encodeURIComponent(item.sku)).replace(/\{list\}/g, encodeURIComponent(list.request_id))
              .replace(/\{pos\}/g, String(pos));
  }

  var io = "IntersectionObserver" in W ? new IntersectionObserver(function (entries) {
    entries.forEach(function (en) {
      if (!en.isIntersecting || en.intersectionRatio < 0.5) return;
      var t = en.target, key = t._vlist.request_id + ":" + t._vpos;
      io.unobserve(t);
      if (seen[key]) return;
      seen[key] = 1;
      track("impression", t._vlist, t._vpos, t._vitem);
    });
  }, {threshold: [0.5]}) : null;

  function carousel(box, list, heading) {
    var l = lang(box), T = TEXT[l], items = (list && list.items) || [];
    box.textContent = "";
    if (!items.length) { box.hidden = true; return; }
    box.hidden = false;
    var tpl = box.getAttribute("data-link") || (BASE + "/shop/product/{sku}?list={list}&pos={pos}");
    var wrap = el("section", "vitrina"), track_ = el("ul", "vitrina-track");
    wrap.setAttribute("data-request-id", list.request_id || "");
    wrap.appendChild(el("h2", "vitrina-title", heading || T[box.getAttribute("data-vitrina")] || ""));
    items.forEach(function (item, pos) {
      var li = el("li", "vitrina-tile"), a = el("a", "vitrina-link");
      li.setAttribute("data-position", String(pos));
      li.setAttribute("data-sku", item.sku);
      a.href = link(tpl, list, pos, item);
      var img = el("img", "vitrina-photo");
      img.alt = item.title || "";
      img.loading = "lazy";
      if (typeof item.image === "string" && /^https?:\/\//i.test(item.image)) img.src = item.image;
      a.appendChild(img);
      a.appendChild(el("span", "vitrina-name", item.title));
      a.appendChild(el("span", "vitrina-price", price(item.price, l, box.getAttribute("data-currency"))));
      var why = (item.reasons || []).slice(0, 2).map(function (r) { return reason(r, l); }).join(" · ");
      if (why) a.appendChild(el("span", "vitrina-reason", why));
      a.addEventListener("click", function () { track("click", list, pos, item); send(); });
      li.appendChild(a);
      li._vlist = list; li._vpos = pos; li._vitem = item;
      track_.appendChild(li);
      if (io && !list.preview) io.observe(li);
    });
    var prev = el("button", "vitrina-nav vitrina-prev", "‹"), next = el("button", "vitrina-nav vitrina-next", "›");
    prev.type = next.type = "button";
    prev.setAttribute("aria-label", T.prev);
    next.setAttribute("aria-label", T.next);
    prev.onclick = function () { track_.scrollBy({left: -track_.clientWidth * 0.8, behavior: "smooth"}); };
    next.onclick = function () { track_.scrollBy({left: track_.clientWidth * 0.8, behavior: "smooth"}); };
    wrap.appendChild(prev); wrap.appendChild(track_); wrap.appendChild(next);
    box.appendChild(wrap);
    if (track_.scrollWidth <= track_.clientWidth) prev.hidden = next.hidden = true;  // everything fits
  }

  function get(url, box) {
    return fetch(url, {mode: "cors", credentials: "omit"}).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      return r.json();
    }).then(function (list) {
      if (!list || !Array.isArray(list.items)) throw new Error("not a list");
      box.vitrina = list;
      return list;
    });
  }

  function url(box) {
    var kind = box.getAttribute("data-vitrina"), sku = box.getAttribute("data-product") || "";
    var limit = parseInt(box.getAttribute("data-limit"), 10), q = new URLSearchParams(), path;
    var token = box.getAttribute("data-preview");
    if (limit > 0) q.set(kind === "look" ? "per_relation" : "limit", String(Math.min(limit, 50)));
    if (token) {
      q.set("token", token);
      if (sku) q.set("product", sku);
      return BASE + "/shop/preview/" + kind + "/?" + q;
    }
    q.set("session_id", session);
    q.set("user_id", shopper);
    if (kind === "similar") path = "/api/products/" + encodeURIComponent(sku) + "/similar/";
    else if (kind === "look") { path = "/api/recommendations/complete_the_look/"; q.set("product_id", sku); }
    else if (kind === "fbt") { path = "/api/recommendations/frequently_bought_together/"; q.set("product_id", sku); }
    else if (kind === "personalized") path = "/api/recommendations/personalized/";
    else if (kind === "trending") path = "/api/recommendations/trending/";
    else if (kind === "query") {
      var text = (box.getAttribute("data-query") || "").trim();
      if (!text) return null;
      path = "/api/recommendations/search/"; q.set("q", text);
    } else return null;
    if (kind !== "personalized" && kind !== "trending" && kind !== "query" && !sku) return null;
    return BASE + path + "?" + q;
  }

  function search(box) {
    var T = TEXT[lang(box)], head = el("div", "vitrina-search"), label = el("label", "vitrina-pick");
    var input = el("input"), status = el("p", "vitrina-status"), out = el("div", "vitrina-results");
    input.type = "file";
    input.accept = "image/*";
    input.setAttribute("data-vitrina-upload", "");
    label.appendChild(el("span", null, T.pick));
    label.appendChild(input);
    head.appendChild(el("h2", "vitrina-title", T.search));
    head.appendChild(label);
    head.appendChild(status);
    box.textContent = "";
    box.appendChild(head);
    box.appendChild(out);
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file) return;
      var form = new FormData(), q = new URLSearchParams({session_id: session, user_id: shopper});
      var limit = parseInt(box.getAttribute("data-limit"), 10);
      if (limit > 0) q.set("limit", String(Math.min(limit, 50)));
      form.append("image", file);
      status.textContent = T.busy;
      fetch(BASE + "/api/recommendations/search_by_image/?" + q, {method: "POST", body: form, mode: "cors"})
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
        .then(function (list) {
          status.textContent = "";
          out.setAttribute("data-lang", lang(box));
          carousel(out, list, T.results);
          box.vitrina = list;
        })
        .catch(function () { status.textContent = T.failed; out.textContent = ""; });
    });
  }

  function mount(box) {
    if (box._vitrina) return;
    box._vitrina = 1;
    if (box.getAttribute("data-vitrina") === "search") { search(box); return; }
    var u = url(box);
    if (!u) { box.hidden = true; return; }
    box.hidden = true;
    get(u, box).then(function (list) {
      if (box.getAttribute("data-preview")) list.preview = true;
      carousel(box, list, list.match === "loose" ? TEXT[lang(box)].loose : null);
      box.setAttribute("data-vitrina-ready", String(list.items.length));
    }).catch(function () { box.textContent = ""; box.hidden = true; box.setAttribute("data-vitrina-ready", "0"); });
  }

  function style() {
    if (D.getElementById("vitrina-style")) return;
    var s = el("style");
    s.id = "vitrina-style";
    s.textContent = ".vitrina{position:relative;margin:1.5em 0;font:inherit}.vitrina-title{font-size:1.2em;margin:0 0 .5em}" +
      ".vitrina-track{display:flex;gap:12px;overflow-x:auto;scroll-snap-type:x mandatory;list-style:none;margin:0;" +
      "padding:0 0 8px}.vitrina-tile{flex:0 0 clamp(140px,22%,220px);scroll-snap-align:start}" +
      ".vitrina-link{display:flex;flex-direction:column;gap:4px;color:inherit;text-decoration:none;" +
      "overflow-wrap:anywhere}" +
      ".vitrina-photo{width:100%;aspect-ratio:4/5;object-fit:cover;background:#f2f2f2;border-radius:6px}" +
      ".vitrina-name{font-size:.9em;line-height:1.3}.vitrina-price{font-weight:600}" +
      ".vitrina-reason{font-size:.75em;color:#666}.vitrina-nav{position:absolute;top:45%;z-index:1;border:0;" +
      "border-radius:50%;width:2em;height:2em;background:#fffd;box-shadow:0 1px 4px #0004;cursor:pointer}" +
      ".vitrina-prev{left:-.5em}.vitrina-next{right:-.5em}.vitrina-pick input{display:block;margin:.5em 0}" +
      "@media (max-width:600px){.vitrina-tile{flex-basis:45%}.vitrina-nav{display:none}}";
    (D.head || D.documentElement).appendChild(s);
  }

  function scan() {
    style();
    if (me && me.getAttribute("data-vitrina") && !me._vbox) {
      var box = D.createElement("div");
      ["data-vitrina", "data-product", "data-query", "data-limit", "data-lang", "data-link", "data-currency", "data-preview"]
        .forEach(function (a) { if (me.hasAttribute(a)) box.setAttribute(a, me.getAttribute(a)); });
      me._vbox = box;
      me.parentNode.insertBefore(box, me.nextSibling);
    }
    var boxes = D.querySelectorAll("[data-vitrina]:not(script)");
    for (var i = 0; i < boxes.length; i++) mount(boxes[i]);
  }

  W.addEventListener("pagehide", send);
  D.addEventListener("visibilitychange", function () { if (D.visibilityState === "hidden") send(); });
  W.Vitrina = {loaded: true, scan: scan, flush: send, shopper: shopper, session: session,
    track: function (kind, sku, list, extra) {
      track(kind, list || {}, list && list.position, {sku: sku}, extra);
    }};
  if (D.readyState === "loading") D.addEventListener("DOMContentLoaded", scan); else scan();
})();
