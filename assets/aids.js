// What every page needs and no page's code should have to remember, applied to whatever
// is drawn, whenever it is drawn:
// - Tables become cards on a phone. Each cell is given its column's name (data-label, from
//   the table's header row, by position), which library.css writes before the value when
//   the screen is narrow; on a wide screen nothing changes.
// - A drop zone's file input (react-dropzone draws it without a label) is named by the
//   zone's own words, for screen readers.
(function () {
  function labelFileInputs() {
    document.querySelectorAll('input[type="file"]:not([aria-label])').forEach(function (input) {
      var zone = input.parentElement;
      var words = zone ? zone.textContent.trim().replace(/\s+/g, " ") : "";
      input.setAttribute("aria-label", words || "Choose files");
    });
  }
  // A region that scrolls (a wide table on a narrow screen) can be scrolled from the
  // keyboard: it takes the focus.
  function focusableScrolling() {
    document.querySelectorAll(".rt-ScrollAreaViewport").forEach(function (area) {
      var scrolls = area.scrollWidth > area.clientWidth + 1 || area.scrollHeight > area.clientHeight + 1;
      if (scrolls && area.getAttribute("tabindex") !== "0") {
        area.setAttribute("tabindex", "0");
        if (!area.hasAttribute("role")) {
          area.setAttribute("role", "region");
          area.setAttribute("aria-label", "Scrollable table");
        }
      } else if (!scrolls && area.getAttribute("tabindex") === "0") {
        area.removeAttribute("tabindex");
      }
    });
  }
  function label() {
    labelFileInputs();
    document.querySelectorAll("table").forEach(function (table) {
      var heads = Array.prototype.map.call(table.querySelectorAll("thead tr:first-child > *"), function (th) {
        return th.textContent.trim();
      });
      if (!heads.length) return;
      if (!table.classList.contains("labelled")) table.classList.add("labelled");
      table.querySelectorAll("tbody > tr").forEach(function (row) {
        Array.prototype.forEach.call(row.children, function (cell, i) {
          var name = heads[i] || "";
          if (cell.getAttribute("data-label") !== name) cell.setAttribute("data-label", name);
        });
      });
    });
    focusableScrolling();
  }
  var pending = false;
  function soon() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () {
      pending = false;
      label();
    });
  }
  // (Attributes are not watched: labelling never wakes the observer again.)
  new MutationObserver(soon).observe(document.documentElement, {
    childList: true,
    subtree: true,
    characterData: true,
  });
  window.addEventListener("resize", soon);
  soon();
})();
