// Keyward's only script, loaded from our origin (the Content-Security-Policy
// allows nothing inline). Every page works without it; it adds
// copy-to-clipboard and live filtering of the tokens table while the
// store-side search waits for Enter. Sorting is the server's: column
// headers are links, so it covers every page, not just the one shown.

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  const status = button.parentElement.querySelector(".copied");
  try {
    await navigator.clipboard.writeText(field.value);
    if (status) status.textContent = "Copied";
  } catch {
    field.select();
    if (status) status.textContent = "Press Ctrl+C (⌘C) to copy";
  }
});

// Live filtering: rows whose name holds what is typed stay visible; Enter
// still submits the form, which searches every page in the store.
const search = document.querySelector("input[data-live-filter]");
const filtered = search && document.getElementById(search.dataset.liveFilter);
if (search && filtered) {
  const count = document.getElementById("shown-count");
  search.addEventListener("input", () => {
    const needle = search.value.trim().toLowerCase();
    let shown = 0;
    for (const row of filtered.tBodies[0].rows) {
      const match = (row.dataset.name ?? "").includes(needle);
      row.hidden = !match;
      if (match) shown += 1;
    }
    if (count) {
      const total = filtered.tBodies[0].rows.length;
      count.textContent = needle ? `${shown} of ${total} on this page match; press Enter to search all tokens.` : "";
    }
  });
}

// Filters that are picked from a list apply at once.
for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.requestSubmit());
}

// "/" focuses the search, as on most developer tools.
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || !search) return;
  const typing = event.target.closest("input, textarea, select, [contenteditable]");
  if (typing) return;
  event.preventDefault();
  search.focus();
});
