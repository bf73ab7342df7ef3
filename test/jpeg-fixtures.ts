// JPEG files written by PIL (libjpeg), with PIL's own decoding of each (turned by its EXIF
// orientation, as ImageOps.exif_transpose turns it, then as RGB bytes and as grey bytes by
// convert('L')): the files and the oracle for the JPEG reader's tests.
import { PYTHON } from './oracle.js';
import { execFileSync } from 'node:child_process';

export interface JpegFixture {
  name: string;
  bytes: Uint8Array;
  width: number;
  height: number;
  /** PIL's decoding, oriented: RGB bytes and grey bytes, row-major. */
  rgb: Uint8Array;
  grey: Uint8Array;
}

const SCRIPT = String.raw`
import base64, io, json, math
from PIL import Image, ImageOps

def picture(w, h, mode):
    # Smooth shading, a dark bar and a light disc: edges and gradients, different in each colour.
    img = Image.new('RGB', (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            r = int(255 * x / max(1, w - 1))
            g = int(255 * y / max(1, h - 1))
            b = 200 if (x - w / 3) ** 2 + (y - h / 2) ** 2 < (min(w, h) / 4) ** 2 else 40
            if abs(x - 2 * w / 3) < max(1, w / 12):
                r, g, b = 20, 30, 10
            px[x, y] = (r, g, b)
    return img.convert(mode)

def save(img, **kw):
    buf = io.BytesIO()
    img.save(buf, 'JPEG', **kw)
    return buf.getvalue()

cases = [
    ('grey 37x23, baseline', save(picture(37, 23, 'L'), quality=90)),
    ('colour 64x48, 4:2:0', save(picture(64, 48, 'RGB'), quality=90)),
    ('colour 29x17, 4:4:4', save(picture(29, 17, 'RGB'), quality=95, subsampling=0)),
    ('colour 50x30, progressive', save(picture(50, 30, 'RGB'), quality=90, progressive=True)),
    ('grey 41x9, progressive', save(picture(41, 9, 'L'), quality=75, progressive=True)),
]
for o in range(1, 9):
    exif = Image.Exif()
    exif[0x0112] = o
    cases.append((f'colour 33x21, EXIF orientation {o}', save(picture(33, 21, 'RGB'), quality=92, exif=exif.tobytes())))

out = []
for name, data in cases:
    img = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    rgb = img.convert('RGB')
    out.append({'name': name, 'bytes': base64.b64encode(data).decode(), 'width': img.width, 'height': img.height,
                'rgb': base64.b64encode(rgb.tobytes()).decode(), 'grey': base64.b64encode(rgb.convert('L').tobytes()).decode()})
print(json.dumps(out))
`;

let fixtures: JpegFixture[] | undefined;

/** The fixtures (PIL runs once per test file). */
export function jpegFixtures(): JpegFixture[] {
  if (!fixtures) {
    const raw = JSON.parse(execFileSync(PYTHON, ['-c', SCRIPT], { encoding: 'utf8', maxBuffer: 1 << 26 })) as { name: string; bytes: string; width: number; height: number; rgb: string; grey: string }[];
    const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
    fixtures = raw.map((f) => ({ ...f, bytes: bytes(f.bytes), rgb: bytes(f.rgb), grey: bytes(f.grey) }));
  }
  return fixtures;
}
