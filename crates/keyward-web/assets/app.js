// Keyward's only script: copy-to-clipboard on the shown-once page. Loaded
// from our origin (the Content-Security-Policy allows nothing inline).
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
