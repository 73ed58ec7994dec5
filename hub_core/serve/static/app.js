// The catalog filters as you type; the Copy buttons copy their snippet. The pages work without it.
document.addEventListener("DOMContentLoaded", () => {
  const search = document.getElementById("search");
  if (search) {
    const task = document.getElementById("task");
    const pretrained = document.getElementById("pretrained");
    const rows = Array.from(document.querySelectorAll("#catalog tr.model-row"));
    const count = document.getElementById("count");
    const total = count ? count.textContent.split(" of ")[1] : rows.length;
    const apply = () => {
      const words = search.value.trim().toLowerCase();
      let shown = 0;
      for (const row of rows) {
        const visible = row.dataset.name.includes(words) && (!task.value || row.dataset.task === task.value)
          && (!pretrained.checked || row.dataset.pretrained === "yes");
        row.hidden = !visible;
        shown += visible ? 1 : 0;
      }
      if (count) count.textContent = `${shown} of ${total}`;
    };
    search.addEventListener("input", apply);
    task.addEventListener("change", apply);
    pretrained.addEventListener("change", apply);
  }
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      const text = document.getElementById(button.dataset.copy).textContent;
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch {
        const range = document.createRange();
        range.selectNodeContents(document.getElementById(button.dataset.copy));
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        button.textContent = "Selected: press Ctrl+C";
      }
    });
  }
});
