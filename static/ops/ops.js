// The operations page: draws the server-rendered snapshot, then follows `ops.snapshot` messages on /ws/.
// The socket authenticates with a short-lived token fetched from /ops/token with the staff session cookie.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("ops-config").textContent);
  var initial = JSON.parse(document.getElementById("ops-initial").textContent);
  var money = new Intl.NumberFormat("id-ID");
  var STYLES = {
    driver: {radius: 6, color: "#1e8449", fillColor: "#27ae60", fillOpacity: 0.9, weight: 1},
    busy: {radius: 6, color: "#b9770e", fillColor: "#f39c12", fillOpacity: 0.9, weight: 1},
    request: {radius: 7, color: "#1f618d", fillColor: "#2980b9", fillOpacity: 0.6, weight: 2},
    ride: {radius: 8, color: "#6c3483", fillColor: "#8e44ad", fillOpacity: 0.9, weight: 2}
  };

  var map = L.map("map", {preferCanvas: false, zoomControl: true}).setView(config.center, 12);
  if (config.tileUrl) {
    var tiles = L.tileLayer(config.tileUrl, {maxZoom: 19, attribution: config.tileAttribution});
    tiles.on("tileerror", function () { document.getElementById("tiles-note").hidden = false; });
    tiles.addTo(map);
  } else {
    document.getElementById("tiles-note").hidden = false;
  }

  // One layer per kind, each a map id -> circle marker, so an update moves markers instead of redrawing them.
  function Layer(kind) {
    this.kind = kind;
    this.group = L.layerGroup().addTo(map);
    this.markers = new Map();
  }
  Layer.prototype.sync = function (rows, styleOf, label) {
    var seen = new Set();
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i], id = row[0], style = styleOf(row), marker = this.markers.get(id);
      seen.add(id);
      if (marker) {
        marker.setLatLng([row[1], row[2]]);
        if (marker.options.fillColor !== style.fillColor) { marker.setStyle(style); }
      } else {
        marker = L.circleMarker([row[1], row[2]], Object.assign({className: "ops-" + this.kind}, style));
        marker.bindTooltip(label(row));
        marker.addTo(this.group);
        var element = marker.getElement && marker.getElement();
        if (element) { element.setAttribute("data-id", id); }
        this.markers.set(id, marker);
      }
    }
    var self = this;
    this.markers.forEach(function (marker, id) {
      if (!seen.has(id)) { self.group.removeLayer(marker); self.markers.delete(id); }
    });
  };

  var layers = {drivers: new Layer("driver"), requests: new Layer("request"), rides: new Layer("ride")};
  window.opsLayers = layers;  // for the browser test and curious operators

  function render(snapshot) {
    layers.drivers.sync(snapshot.drivers, function (row) { return row[3] ? STYLES.busy : STYLES.driver; },
      function (row) { return "driver " + row[0] + (row[3] ? " (busy)" : " (available)"); });
    layers.requests.sync(snapshot.requests, function () { return STYLES.request; },
      function (row) { return "request " + row[0] + " (" + row[3] + ")"; });
    layers.rides.sync(snapshot.rides, function () { return STYLES.ride; },
      function (row) { return "ride " + row[0] + " (" + row[3] + ")"; });
    Object.keys(snapshot.counters).forEach(function (name) {
      var el = document.getElementById("c-" + name);
      if (el) { el.textContent = el.hasAttribute("data-money") ? money.format(snapshot.counters[name])
                                                                : snapshot.counters[name]; }
    });
    document.getElementById("ops-updated").textContent = "updated " + new Date(snapshot.at).toLocaleTimeString();
    window.opsLastSnapshotAt = snapshot.at;
  }

  function fitToPoints(snapshot) {
    var points = [].concat(snapshot.drivers, snapshot.requests, snapshot.rides).map(function (row) {
      return [row[1], row[2]];
    });
    if (points.length > 1) { map.fitBounds(points, {padding: [40, 40], maxZoom: 15}); }
  }

  function setStatus(state, text) {
    var el = document.getElementById("ops-status");
    el.className = "status status-" + state;
    el.setAttribute("data-state", state);
    el.textContent = text;
  }

  function getJson(url) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(function (r) {
      if (r.status === 302 || r.redirected || !r.ok) { throw new Error("session ended (" + r.status + ")"); }
      return r.json();
    });
  }

  var backoff = 1000;
  function connect() {
    setStatus("connecting", "connecting…");
    getJson(config.tokenUrl).then(function (body) {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + location.host + body.ws_path + "?token=" + encodeURIComponent(body.token));
      socket.onopen = function () {
        backoff = 1000;
        setStatus("live", "live");
        getJson(config.snapshotUrl).then(render).catch(function () {});  // what changed while we were away
      };
      socket.onmessage = function (message) {
        var data = JSON.parse(message.data);
        if (data.type === "ops.snapshot") { render(data); }
      };
      socket.onclose = function (event) {
        setStatus("offline", event.code === 4401 ? "signed out — reconnecting" : "offline — reconnecting");
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 15000);
      };
    }).catch(function (error) {
      setStatus("offline", String(error.message || error));
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 15000);
    });
  }

  render(initial);
  fitToPoints(initial);
  connect();
  // Keeps the broadcaster running while this page is open (each token fetch says "someone watches").
  setInterval(function () { getJson(config.tokenUrl).catch(function () {}); }, 60000);
})();
