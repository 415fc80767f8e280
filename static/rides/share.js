/* The shared trip page: polls the public state JSON and moves the driver's marker; no sign-in, no socket. */
(function () {
  "use strict";
  var mapEl = document.getElementById("map");
  var stateUrl = mapEl.dataset.stateUrl;
  var pollMs = parseInt(mapEl.dataset.pollMs, 10) || 2000;
  var STATUS_WORDS = {driver_en_route: "driver on the way", in_progress: "on the trip",
                      completed: "arrived, trip ended", cancelled: "cancelled"};
  var map = L.map("map", {zoomControl: true}).setView([-6.2, 106.816], 15);
  if (mapEl.dataset.tileUrl) {
    var tiles = L.tileLayer(mapEl.dataset.tileUrl, {maxZoom: 19});
    tiles.on("tileerror", function () { document.getElementById("tiles-note").hidden = false; });
    tiles.addTo(map);
  } else {
    document.getElementById("tiles-note").hidden = false;
  }
  var marker = null;
  var centred = false;

  function text(id, value) { document.getElementById(id).textContent = value; }

  function draw(state) {
    text("driver-name", state.driver.first_name || "your driver");
    text("vehicle-plate", state.driver.vehicle_plate || "");
    text("vehicle-type", state.driver.vehicle_type ? "(" + state.driver.vehicle_type + ")" : "");
    text("trip-status", STATUS_WORDS[state.status] || state.status);
    text("trip-updated", new Date().toLocaleTimeString());
    mapEl.dataset.status = state.status;
    var p = state.driver_position;
    if (!p) { return; }
    var at = [p.lat, p.lng];
    if (marker === null) {
      marker = L.circleMarker(at, {radius: 9, className: "share-driver", fillOpacity: 1}).addTo(map);
    } else {
      marker.setLatLng(at);
    }
    mapEl.dataset.lat = p.lat;
    mapEl.dataset.lng = p.lng;
    if (!centred) { map.setView(at, 16); centred = true; } else { map.panTo(at); }
  }

  function poll() {
    fetch(stateUrl, {cache: "no-store", credentials: "omit"}).then(function (response) {
      if (response.status === 404) { text("trip-status", "this link has expired"); mapEl.dataset.status = "gone"; return null; }
      return response.ok ? response.json() : null;
    }).then(function (state) {
      if (state) { draw(state); }
      if (mapEl.dataset.status !== "gone") { setTimeout(poll, pollMs); }
    }).catch(function () { setTimeout(poll, pollMs * 2); });
  }
  poll();
}());
