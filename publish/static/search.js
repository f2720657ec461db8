// The search box of /search/: Pagefind's UI over the index beside this page. Result links
// are made from where the site lives (any sub-path or port), found from this page's address.
window.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("search");
  const base = new URL(box.dataset.root, window.location.href).pathname;
  new PagefindUI({ element: "#search", baseUrl: base, showImages: false, resetStyles: false });
  const input = box.querySelector("input");
  if (input) {
    input.setAttribute("aria-label", input.title || document.title);  // a title is no label
    input.focus();
  }
});
