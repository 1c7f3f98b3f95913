// The page's behaviour: every image (dropped, chosen or a sample) goes through uploadImage to POST /api/images;
// questions go to POST /api/ask with the image's id. Deep link /?sample=NAME&q=QUESTION does both on load.
'use strict';

const $ = (id) => document.getElementById(id);
const current = { imageId: null, file: null, width: 0, height: 0 };

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// A JSON API call; a non-2xx answer throws its {"error": ...} message.
async function api(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    body = null;
  }
  if (!response.ok) throw new ApiError((body && body.error) || `HTTP ${response.status}`, response.status);
  return body;
}

function setState(state, message, isError = false) {
  document.body.dataset.state = state;
  $('status').textContent = message;
  $('status').classList.toggle('error', isError);
}

function describe(object) {
  return `${object.size} ${object.color} ${object.material} ${object.shape}`;
}

async function refreshHealth() {
  try {
    const h = await api('/api/health');
    $('health').textContent = `model ${h.model.path.split('/').pop()} (${h.model.scene}) · ` +
      `${h.images_parsed} images parsed · ${h.questions_answered} questions answered`;
  } catch (e) {
    $('health').textContent = `server unreachable: ${e.message}`;
  }
}

function showMarkers(objects) {
  const markers = $('markers');
  markers.replaceChildren();
  objects.forEach((object, index) => {
    const marker = document.createElement('span');
    marker.className = 'marker';
    marker.textContent = index;
    marker.title = `${index}: ${describe(object)} (existence ${object.existence.toFixed(2)})`;
    marker.style.left = `${(100 * object.pixel_coords[0]) / current.width}%`;
    marker.style.top = `${(100 * object.pixel_coords[1]) / current.height}%`;
    markers.appendChild(marker);
  });
}

// The one way an image reaches the server: dropped files, chosen files and samples all come here.
async function uploadImage(file) {
  setState('busy', `Reading ${file.name}…`);
  const form = new FormData();
  form.append('image', file, file.name);
  const info = await api('/api/images', { method: 'POST', body: form });
  Object.assign(current, { imageId: info.id, file, width: info.width, height: info.height });
  const image = $('image');
  if (image.src.startsWith('blob:')) URL.revokeObjectURL(image.src);
  image.src = URL.createObjectURL(file);
  $('preview').hidden = false;
  $('image-info').textContent = `${file.name}: ${info.width}×${info.height}, ${info.objects.length} objects detected`;
  showMarkers(info.objects);
  setState('ready', 'Ask a question about the image.');
  refreshHealth();
  return info;
}

async function useSample(name) {
  setState('busy', `Fetching sample ${name}…`);
  const response = await fetch(`/api/samples/${encodeURIComponent(name)}`);
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new ApiError(body.error || `HTTP ${response.status}`, response.status);
  }
  const blob = await response.blob();
  return uploadImage(new File([blob], name, { type: blob.type }));
}

function stepText(step) {
  if (step.answer !== undefined) return `→ ${step.answer}`;
  const attended = step.attention
    .map((mass, index) => ({ mass, index }))
    .filter((a) => a.mass >= 0.05)
    .map((a) => `#${a.index} ${a.mass.toFixed(2)}`);
  return attended.length ? attended.join(', ') : '(no object)';
}

function showAnswer(result) {
  $('result').hidden = false;
  const answered = result.answer !== '';
  $('answer').textContent = answered ? result.answer : 'no answer';
  $('probability').textContent = answered ? `p = ${result.probability.toFixed(3)}` : '';
  $('probability-bar').style.width = `${answered ? 100 * result.probability : 0}%`;
  $('answer-note').textContent = result.error
    ? `The program could not run on the detected scene: ${result.error}`
    : `Exact executor on the detections: ${result.symbolic_answer || '(none)'}`;
  const steps = $('steps');
  steps.replaceChildren();
  result.steps.forEach((step) => {
    const item = document.createElement('li');
    const token = document.createElement('code');
    token.textContent = step.token;
    const detail = document.createElement('span');
    detail.textContent = ` ${stepText(step)}`;
    item.append(token, detail);
    steps.appendChild(item);
  });
  if (result.explanation_png) $('explanation').src = result.explanation_png;

  const entry = document.createElement('li');
  entry.textContent = `${result.question} → ${answered ? result.answer : 'no answer'}`;
  $('history').prepend(entry);
  $('history-title').hidden = false;
}

async function ask(question) {
  if (!current.imageId) {
    setState('idle', 'Pick a sample or drop an image first.', true);
    return;
  }
  setState('busy', 'Thinking…');
  const request = () => api('/api/ask', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ image_id: current.imageId, question }),
  });
  let result;
  try {
    result = await request();
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404 && current.file)) throw e;
    await uploadImage(current.file); // the server forgot the image (its cache is bounded): send it again
    result = await request();
  }
  showAnswer(result);
  setState('answered', result.answer !== '' ? 'Answered.' : 'No answer.');
  refreshHealth();
}

// Runs an action, showing its failure in the status line.
function attempt(action) {
  return action().catch((e) => setState('error', e.message, true));
}

async function loadSamples() {
  const { samples } = await api('/api/samples');
  $('samples-title').hidden = samples.length === 0;
  for (const sample of samples) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'sample';
    button.title = sample.name;
    const thumbnail = document.createElement('img');
    thumbnail.src = sample.url;
    thumbnail.alt = sample.name;
    thumbnail.loading = 'lazy';
    button.appendChild(thumbnail);
    button.addEventListener('click', () => attempt(() => useSample(sample.name)));
    $('samples').appendChild(button);
  }
}

function wireInputs() {
  const drop = $('drop');
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    const file = event.dataTransfer.files[0];
    if (file) attempt(() => uploadImage(file));
  });
  $('file').addEventListener('change', (event) => {
    const file = event.target.files[0];
    if (file) attempt(() => uploadImage(file));
  });
  $('ask-form').addEventListener('submit', (event) => {
    event.preventDefault();
    attempt(() => ask($('question').value));
  });
}

// /?sample=NAME&q=QUESTION: the sample goes through the same upload as a dropped file, then the question is asked.
async function followDeepLink() {
  const params = new URLSearchParams(window.location.search);
  const sample = params.get('sample');
  const question = params.get('q');
  if (question !== null) $('question').value = question;
  if (sample) await useSample(sample);
  if (sample && question) await ask(question);
}

wireInputs();
refreshHealth();
attempt(loadSamples);
attempt(followDeepLink);
