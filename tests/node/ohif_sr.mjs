// OHIF v3's DICOM SR adapter (@cornerstonejs/adapters), driven from the test suite.
//
//   node ohif_sr.mjs hydrate --images DIR [--images DIR...] SR.dcm...
//       What OHIF makes of each SR: MeasurementReport.generateToolState(...) as
//       OHIF's hydrateStructuredReport calls it, printed as JSON {SR path: {toolTypes,
//       measurements: [{toolType, label, trackingUid, sopInstanceUid, length, width,
//       unit, points (world), findingSites}]}}.
//   node ohif_sr.mjs generate SPEC.json
//       SRs as OHIF writes them: tool state (as OHIF's getFilteredCornerstoneToolState
//       builds it) -> MeasurementReport.generateReport(...) -> DICOM files.
//       SPEC: {"images": [DIR...], "reports": [{"out": PATH, "legacyCodes": false,
//              "tools": [{"tool": "Length"|"Bidirectional"|"Probe"|"ArrowAnnotate",
//                         "sop": SOPInstanceUID, "points": [[x, y], ...] (image
//                         coordinates: column + 0.5, row + 0.5), "label": "...",
//                         "findingSites": [{CodeValue, CodingSchemeDesignator,
//                         CodeMeaning}]}]}]}
//       legacyCodes: the axes coded SRT G-A185/G-A186, as older OHIF releases wrote.
//
// The image headers come from the DICOM files themselves (dcmjs), served to
// Cornerstone through a metadata provider the way OHIF's DICOM image loader does.
import fs from 'node:fs';
import path from 'node:path';
import dcmjs from 'dcmjs';
import { metaData, utilities } from '@cornerstonejs/core';
import { adaptersSR } from '@cornerstonejs/adapters';

const { MeasurementReport } = adaptersSR.Cornerstone3D;
// the adapter logs to the console: keep stdout for the JSON result
for (const level of ["log", "info", "warn", "debug", "trace"]) console[level] = (...a) => process.stderr.write(`${a.map(String).join(" ")}\n`);
const { DicomMessage, DicomMetaDictionary } = dcmjs.data;

function listFiles(p) {
  const st = fs.statSync(p);
  if (st.isFile()) return [p];
  return fs.readdirSync(p).sort().flatMap((n) => listFiles(path.join(p, n)));
}

function readDataset(file) {
  const buf = fs.readFileSync(file);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const dict = DicomMessage.readFile(ab, { untilTag: '7FE00010', includeUntilTagValue: false });
  const ds = DicomMetaDictionary.naturalizeDataset(dict.dict);
  ds._meta = DicomMetaDictionary.namifyDataset(dict.meta);
  return ds;
}

// imageId -> naturalized instance (no pixel data)
const instances = new Map();
const sopToImageId = {};

function loadImages(dirs) {
  for (const dir of dirs) {
    for (const file of listFiles(dir)) {
      let ds;
      try {
        ds = readDataset(file);
      } catch {
        continue;
      }
      if (!ds.SOPInstanceUID || ds.Modality === 'SR' || !ds.ImagePositionPatient) continue;
      const imageId = `dicomfile:${path.resolve(file)}`;
      instances.set(imageId, ds);
      sopToImageId[`${ds.SOPInstanceUID}:1`] = imageId;
    }
  }
}

function provider(type, imageId) {
  const ds = instances.get(imageId);
  if (!ds) return undefined;
  const iop = ds.ImageOrientationPatient.map(Number);
  const spacing = ds.PixelSpacing.map(Number);
  switch (type) {
    case 'imagePlaneModule':
      return {
        frameOfReferenceUID: ds.FrameOfReferenceUID,
        rows: ds.Rows,
        columns: ds.Columns,
        imageOrientationPatient: iop,
        rowCosines: iop.slice(0, 3),
        columnCosines: iop.slice(3, 6),
        imagePositionPatient: ds.ImagePositionPatient.map(Number),
        sliceThickness: Number(ds.SliceThickness),
        pixelSpacing: spacing,
        rowPixelSpacing: spacing[0],
        columnPixelSpacing: spacing[1],
      };
    case 'imagePixelModule':
      return { rows: ds.Rows, columns: ds.Columns };
    case 'sopCommonModule':
      return { sopInstanceUID: ds.SOPInstanceUID, sopClassUID: ds.SOPClassUID };
    case 'instance':
      return ds;
    case 'frameNumber':
      return 1;
    case 'generalSeriesModule':
      return { modality: ds.Modality, seriesInstanceUID: ds.SeriesInstanceUID };
    default:
      return undefined;
  }
}
metaData.addProvider(provider, 10000);

function hydrateAll(args) {
  const dirs = [];
  const files = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--images') dirs.push(args[++i]);
    else files.push(args[i]);
  }
  loadImages(dirs);
  return Object.fromEntries(files.map((f) => [f, hydrate(f)]));
}

function hydrate(srFile) {
  const dataset = readDataset(srFile);
  const state = MeasurementReport.generateToolState(dataset, sopToImageId, metaData);
  const out = { toolTypes: Object.keys(state), measurements: [] };
  for (const [toolType, list] of Object.entries(state)) {
    for (const m of list) {
      const ann = m.annotation;
      const imageId = ann.metadata.referencedImageId;
      const stats = ann.data.cachedStats?.[`imageId:${imageId}`] ?? {};
      out.measurements.push({
        toolType,
        toolName: ann.metadata.toolName,
        label: ann.data.label ?? null,
        text: ann.data.text ?? null,
        trackingUid: m.TrackingUniqueIdentifier ?? null,
        sopInstanceUid: m.sopInstanceUid ?? null,
        referencedImageId: imageId ?? null,
        referencedFile: imageId ? imageId.replace(/^dicomfile:/, '') : null,
        length: stats.length ?? null,
        width: stats.width ?? null,
        unit: stats.unit ?? null,
        points: ann.data.handles?.points ?? [],
        findingSites: (m.findingSites || []).map((s) => ({
          CodeValue: s.CodeValue,
          CodingSchemeDesignator: s.CodingSchemeDesignator,
          CodeMeaning: s.CodeMeaning,
        })),
      });
    }
  }
  return out;
}

function dist(a, b) {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

function generateAll(specFile) {
  const spec = JSON.parse(fs.readFileSync(specFile, 'utf8'));
  loadImages(spec.images);
  return spec.reports.map((r) => generate(r));
}

function generate(spec) {
  const outFile = spec.out;
  const toolState = {};
  for (const t of spec.tools) {
    const imageId = sopToImageId[`${t.sop}:1`];
    if (!imageId) throw new Error(`image ${t.sop} not found`);
    const ds = instances.get(imageId);
    const world = t.points.map((p) => utilities.imageToWorldCoords(imageId, p));
    const stats = {};
    if (t.tool === 'Length') stats.length = dist(world[0], world[1]);
    if (t.tool === 'Bidirectional') {
      stats.length = dist(world[0], world[1]);
      stats.width = dist(world[2], world[3]);
    }
    stats.unit = 'mm';
    const annotation = {
      annotationUID: DicomMetaDictionary.uid(),
      metadata: {
        toolName: t.tool,
        referencedImageId: imageId,
        FrameOfReferenceUID: ds.FrameOfReferenceUID,
      },
      data: {
        label: t.label || undefined,
        text: t.tool === 'ArrowAnnotate' ? t.label : undefined,
        // ArrowAnnotate: the tip first (the tool's default), then the text end
        handles: { points: world, arrowFirst: true, textBox: { hasMoved: false } },
        cachedStats: { [`imageId:${imageId}`]: stats },
      },
      finding: undefined,
      findingSites: [],
    };
    // as getFilteredCornerstoneToolState: the label as a CORNERSTONEFREETEXT site
    if (t.label) {
      annotation.findingSites.push({
        CodeValue: 'CORNERSTONEFREETEXT',
        CodingSchemeDesignator: 'CORNERSTONEJS',
        CodeMeaning: t.label,
      });
    }
    annotation.findingSites.push(...(t.findingSites || []));
    toolState[imageId] ??= {};
    toolState[imageId][t.tool] ??= { data: [] };
    toolState[imageId][t.tool].data.push(annotation);
  }
  const report = MeasurementReport.generateReport(toolState, metaData, {});
  const dataset = report.dataset;
  dataset.SpecificCharacterSet ??= 'ISO_IR 192';
  dataset.InstanceNumber = 1;
  if (spec.legacyCodes) relabelLegacy(dataset);
  const buffer = dcmjs.data.datasetToBuffer(dataset);
  fs.writeFileSync(outFile, buffer);
  return { written: outFile, groups: spec.tools.length };
}

// OHIF 2.x (cornerstoneTools 4 + dcmjs) coded the axes in SNOMED-RT.
function relabelLegacy(dataset) {
  const legacy = {
    103339001: ['G-A185', 'SRT'],
    103340004: ['G-A186', 'SRT'],
  };
  const walk = (items) => {
    for (const item of [items].flat()) {
      if (!item) continue;
      const name = [item.ConceptNameCodeSequence].flat()[0];
      if (name && legacy[name.CodeValue]) {
        [name.CodeValue, name.CodingSchemeDesignator] = legacy[name.CodeValue];
      }
      if (item.ContentSequence) walk(item.ContentSequence);
    }
  };
  walk(dataset.ContentSequence);
}

const [cmd, ...args] = process.argv.slice(2);
try {
  let result;
  if (cmd === 'hydrate') result = hydrateAll(args);
  else if (cmd === 'generate') result = generateAll(args[0]);
  else throw new Error(`unknown command ${cmd} (hydrate | generate)`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (err) {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
}
