// The run table's front end: shows HTML rendered in Python, reports header clicks (sort) and row
// checkboxes (selection) back to the kernel. Shipped in the mlnb package; nothing is fetched.
function render({ model, el }) {
  el.classList.add("mlnb-table-box");
  const draw = () => {
    el.innerHTML = model.get("html");
    const picked = new Set(model.get("selected"));
    for (const box of el.querySelectorAll("input.mlnb-pick")) box.checked = picked.has(box.dataset.runId);
    const all = el.querySelector("input.mlnb-pick-page");
    const boxes = [...el.querySelectorAll("input.mlnb-pick")];
    if (all) all.checked = boxes.length > 0 && boxes.every((b) => b.checked);
  };
  draw();
  model.on("change:html", draw);
  model.on("change:selected", draw);
  el.addEventListener("click", (event) => {
    const th = event.target.closest("th[data-sort]");
    if (th && el.contains(th)) model.send({ sort: th.dataset.sort });
  });
  el.addEventListener("change", (event) => {
    const box = event.target;
    const picked = [...model.get("selected")];
    let ids = [];
    if (box.classList.contains("mlnb-pick")) ids = [box.dataset.runId];
    else if (box.classList.contains("mlnb-pick-page")) ids = [...el.querySelectorAll("input.mlnb-pick")].map((b) => b.dataset.runId);
    else return;
    let next = picked.filter((id) => !ids.includes(id));
    if (box.checked) next = next.concat(ids);
    model.set("selected", next);
    model.save_changes();
  });
}
export default { render };
