// The light style of the app's own basemap (/tiles/basemap/{z}/{x}/{y}.pbf, gis/layers/basemap.py), drawn on
// canvas by protomaps-leaflet (global `protomapsL`). Labels use the system's CJK fonts, so Chinese names draw
// offline with nothing downloaded. Loaded in the page header after protomaps-leaflet, before basemap.js.
"use strict";

const GRIDMAP_BASEMAP_FONTS = '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", ' +
  '"Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif';

const GRIDMAP_BASEMAP_COLOURS = {
  land: "#f5f3ef",
  water: "#a9cfe8",
  waterLabel: "#3f79a6",
  green: "#d3e8c4",
  greenLabel: "#4f7a3a",
  building: "#e2ddd5",
  buildingEdge: "#cfc8bd",
  casing: { major: "#c9b99a", minor: "#d4cfc7", path: "#dcd8d0" },
  street: { major: "#fff4d6", minor: "#ffffff", path: "#ffffff" },
  boundary: { district: "#9c7fae", street: "#a58fb6", community: "#b9a7c6" },
  label: "#4d4a45",
  halo: "#ffffff",
};

// Widths in CSS pixels by zoom: [zoom, width] stops, interpolated between (protomapsL.linear).
const GRIDMAP_STREET_WIDTHS = {
  major: [[10, 1.2], [13, 3], [16, 10], [19, 28]],
  minor: [[13, 0.8], [15, 3], [16, 5], [19, 16]],
  path: [[15, 0.8], [16, 1.5], [19, 5]],
};

function gridmapIsClass(name) {
  return (zoom, feature) => feature.props.class === name;
}

function gridmapIsLevel(name) {
  return (zoom, feature) => feature.props.level === name;
}

// {paintRules, labelRules, backgroundColor} for protomapsL.leafletLayer.
function gridmapBasemapStyle() {
  const P = protomapsL, C = GRIDMAP_BASEMAP_COLOURS;
  const width = (cls, extra) => {
    const base = P.linear(GRIDMAP_STREET_WIDTHS[cls]);
    return (z) => base(z) + (extra || 0);
  };
  const classes = ["path", "minor", "major"];  // drawn bottom up: major streets over the lanes they cross
  const paintRules = [
    { dataLayer: "water", symbolizer: new P.PolygonSymbolizer({ fill: C.water }) },
    { dataLayer: "green", symbolizer: new P.PolygonSymbolizer({ fill: C.green }) },
    {
      dataLayer: "buildings",
      minzoom: 15,
      symbolizer: new P.PolygonSymbolizer({ fill: C.building, stroke: C.buildingEdge, width: 0.6 }),
    },
    ...classes.map((cls) => ({
      dataLayer: "streets",
      filter: gridmapIsClass(cls),
      symbolizer: new P.LineSymbolizer({
        color: C.casing[cls], width: width(cls, cls === "path" ? 0.6 : 1.6), lineCap: "round", lineJoin: "round",
      }),
    })),
    ...classes.map((cls) => ({
      dataLayer: "streets",
      filter: gridmapIsClass(cls),
      symbolizer: new P.LineSymbolizer({
        color: C.street[cls], width: width(cls), lineCap: "round", lineJoin: "round",
      }),
    })),
    ...["community", "street", "district"].map((level) => ({
      dataLayer: "boundaries",
      filter: gridmapIsLevel(level),
      symbolizer: new P.LineSymbolizer({
        color: C.boundary[level],
        width: level === "community" ? 1 : 1.8,
        dash: level === "community" ? [3, 3] : [8, 4],
        opacity: 0.9,
      }),
    })),
  ];
  const text = (size, fill, weight) => ({
    labelProps: ["name"],
    fontFamily: GRIDMAP_BASEMAP_FONTS,
    fontSize: size,
    fontWeight: weight || 400,
    fill: fill,
    stroke: C.halo,
    width: 2.5,
  });
  const labelRules = [
    {
      dataLayer: "places",
      filter: gridmapIsLevel("district"),
      symbolizer: new P.CenteredTextSymbolizer(text(16, "#5e4a6b", 700)),
    },
    {
      dataLayer: "places",
      filter: gridmapIsLevel("street"),
      symbolizer: new P.CenteredTextSymbolizer(text(15, "#5e4a6b", 700)),
    },
    {
      dataLayer: "streets",
      filter: gridmapIsClass("major"),
      minzoom: 13,
      symbolizer: new P.LineLabelSymbolizer(text(13, C.label, 500)),
    },
    {
      dataLayer: "streets",
      filter: gridmapIsClass("minor"),
      minzoom: 15,
      symbolizer: new P.LineLabelSymbolizer(text(12, C.label)),
    },
    {
      dataLayer: "places",
      filter: gridmapIsLevel("community"),
      symbolizer: new P.CenteredTextSymbolizer(text(13, "#6d5a7a", 600)),
    },
    {
      dataLayer: "places",
      filter: gridmapIsLevel("water"),
      symbolizer: new P.CenteredTextSymbolizer(text(12, C.waterLabel)),
    },
    {
      dataLayer: "places",
      filter: gridmapIsLevel("green"),
      symbolizer: new P.CenteredTextSymbolizer(text(12, C.greenLabel)),
    },
    {
      dataLayer: "streets",
      filter: gridmapIsClass("path"),
      minzoom: 17,
      symbolizer: new P.LineLabelSymbolizer(text(11, "#77726a")),
    },
  ];
  return { paintRules, labelRules, backgroundColor: C.land };
}
