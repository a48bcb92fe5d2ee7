/* claimdesk: the Model page's calculator. The arithmetic lives in model.js, generated from the
   desk's sympy model; this file only builds the form and shows the numbers. Every name, unit and
   text comes from the page's JSON data and is written with textContent, never as HTML. */
(function () {
  "use strict";

  function trimZeros(text) {
    return text.indexOf(".") >= 0 ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
  }

  /* Python's format(x, ".4g") */
  function general4(x) {
    var parts = x.toExponential(3).split("e");
    var exponent = parseInt(parts[1], 10);
    if (exponent < -4 || exponent >= 4) {
      return trimZeros(parts[0]) + "e" + (exponent < 0 ? "-" : "+") + String(Math.abs(exponent)).padStart(2, "0");
    }
    return trimZeros(x.toFixed(Math.max(0, 3 - exponent)));
  }

  /* The same figure as claimdesk's values.figure_text, so the calculator and `claimdesk model` agree. */
  function figureText(x) {
    var size = Math.abs(x);
    if (size >= 1e6 || size < 1e-3) {
      return x === 0 ? "0" : general4(x);
    }
    if (size < 100) {
      return trimZeros(x.toFixed(4));
    }
    return trimZeros(x.toLocaleString("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2}));
  }

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (className) { node.className = className; }
    return node;
  }

  function start() {
    var root = document.getElementById("cd-calculator");
    var dataNode = document.getElementById("cd-model-data");
    var code = window.claimdeskModelCode;
    if (!root || !dataNode || !code) { return; }
    var data = JSON.parse(dataNode.textContent);
    var inputs = [];
    var outputs = [];

    var form = element("form", null, "cd-calc-form");
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    var parameterTable = element("table", null, "cd-table cd-calc-parameters");
    parameterTable.appendChild(element("caption", "Parameters"));
    data.parameters.forEach(function (parameter) {
      var row = element("tr");
      var label = element("label", parameter.id);
      var input = element("input");
      input.type = "number";
      input.step = "any";
      input.value = String(parameter.value);
      input.id = "cd-in-" + parameter.id;
      input.setAttribute("data-default", String(parameter.value));
      label.htmlFor = input.id;
      var name = element("td"); name.appendChild(label);
      name.appendChild(element("div", parameter.text, "cd-calc-text"));
      var cell = element("td"); cell.appendChild(input);
      row.appendChild(name); row.appendChild(cell); row.appendChild(element("td", parameter.unit));
      parameterTable.appendChild(row);
      inputs.push({input: input, factor: parameter.factor});
      input.addEventListener("input", update);
    });
    form.appendChild(parameterTable);
    var reset = element("button", "Reset to the model's values");
    reset.type = "button";
    reset.addEventListener("click", function () {
      inputs.forEach(function (item) { item.input.value = item.input.getAttribute("data-default"); });
      update();
    });
    form.appendChild(reset);

    var quantityTable = element("table", null, "cd-table cd-calc-quantities");
    quantityTable.appendChild(element("caption", "Quantities"));
    data.quantities.forEach(function (quantity, index) {
      var row = element("tr");
      var name = element("td");
      name.appendChild(element("code", quantity.id));
      name.appendChild(element("div", quantity.text + " (" + quantity.definition + ")", "cd-calc-text"));
      var value = element("td", "", "cd-calc-value");
      value.id = "cd-out-" + quantity.id;
      var used = element("td", null, "cd-calc-used");
      if (quantity.claims.length === 0) { used.textContent = "no claim"; }
      quantity.claims.forEach(function (claim, i) {
        if (i > 0) { used.appendChild(document.createTextNode(", ")); }
        var link = element("a", claim.id);
        link.href = claim.url;
        used.appendChild(link);
      });
      row.appendChild(name); row.appendChild(value); row.appendChild(used);
      quantityTable.appendChild(row);
      outputs.push({node: value, quantity: quantity, compute: code.quantities[index], index: index});
    });
    form.appendChild(quantityTable);
    root.textContent = "";
    root.appendChild(form);

    function update() {
      var p = inputs.map(function (item) { return parseFloat(item.input.value) * item.factor; });
      outputs.forEach(function (output) {
        var text;
        var unmet = code.conditions.filter(function (c) { return c.quantity === output.index && !c.holds(p); });
        if (p.some(function (v) { return !isFinite(v); })) {
          text = "enter a number for every parameter";
        } else if (!output.compute) {
          text = "too large to compute here; see claimdesk model";
        } else if (unmet.length > 0) {
          text = "undefined: requires " + output.quantity.requires.join(" and ");
        } else {
          var value = output.compute(p) / output.quantity.factor;
          text = isFinite(value) ? figureText(value) + " " + output.quantity.unit : "cannot be computed (division by zero?)";
        }
        output.node.textContent = text;
      });
    }
    update();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
