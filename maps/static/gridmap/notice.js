// The public notice (/notice, maps/notice_page.py): the page is rendered by the server; this only shows one
// community's sections and monthly rows when one is chosen (the chart stays the district's).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const link of document.querySelectorAll(".gridmap-lang-link")) {
    const query = new URLSearchParams(window.location.search);
    query.set("lang", link.dataset.lang);
    link.href = `?${query}`;
  }
  const select = document.getElementById("gridmap-notice-community");
  if (!select) return;
  const apply = () => {
    for (const element of document.querySelectorAll("[data-community]")) {
      element.hidden = Boolean(select.value) && element.dataset.community !== select.value;
    }
  };
  select.addEventListener("change", apply);
  apply();
});
