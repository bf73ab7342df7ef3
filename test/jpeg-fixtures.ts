// JPEG files written by PIL (libjpeg), with PIL's own decoding of each (turned by its EXIF
// orientation, as ImageOps.exif_transpose turns it, then as RGB bytes and as grey bytes by
// convert('L')): the files and the oracle for the JPEG reader's tests. Colour at each chroma
// subsampling PIL writes (4:4:4, 4:2:2, 4:2:0), at odd sizes and qualities from 5 to 100, and
// coded as RGB or YCbCr by an Adobe segment in place of the JFIF one.
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
import base64, io, json, math, random
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

def noise(w, h):
    rnd = random.Random(w * h)
    return Image.frombytes('RGB', (w, h), bytes(rnd.randrange(256) for _ in range(3 * w * h)))

def save(img, **kw):
    buf = io.BytesIO()
    img.save(buf, 'JPEG', **kw)
    return buf.getvalue()

def adobe(data, transform):
    # The JFIF segment (FF E0, 16 bytes long, after FF D8) swapped for an Adobe one (FF EE):
    # "Adobe", version 100, two flag words, then the transform (0: RGB, 1: YCbCr).
    assert data[2:4] == b'\xff\xe0' and data[6:11] == b'JFIF\0'
    return data[:2] + b'\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00' + bytes([transform]) + data[2 + 2 + 16:]

def rgb_coded(img, **kw):
    # RGB samples saved as if YCbCr, so that libjpeg codes them as they are: an RGB JPEG once
    # its Adobe segment says transform 0.
    return adobe(save(Image.frombytes('YCbCr', img.size, img.tobytes()), **kw), 0)

cases = [
    ('grey 37x23, baseline', save(picture(37, 23, 'L'), quality=90)),
    ('colour 64x48, 4:2:0', save(picture(64, 48, 'RGB'), quality=90)),
    ('colour 29x17, 4:4:4', save(picture(29, 17, 'RGB'), quality=95, subsampling=0)),
    ('colour 50x30, progressive', save(picture(50, 30, 'RGB'), quality=90, progressive=True)),
    ('grey 41x9, progressive', save(picture(41, 9, 'L'), quality=75, progressive=True)),
    ('colour 17x9, 4:2:2, quality 5', save(picture(17, 9, 'RGB'), quality=5, subsampling=1)),
    ('colour 31x17, 4:2:0, quality 100, progressive', save(picture(31, 17, 'RGB'), quality=100, subsampling=2, progressive=True)),
    ('colour 333x1, 4:2:0', save(picture(333, 1, 'RGB'), quality=75)),
    ('colour 1x1, 4:2:0', save(picture(1, 1, 'RGB'), quality=75)),
    ('colour noise 31x17, 4:2:0', save(noise(31, 17), quality=75)),
    ('colour 40x24, 4:2:0, RGB coded (Adobe transform 0)', rgb_coded(picture(40, 24, 'RGB'), quality=90, subsampling=2)),
    ('colour 40x24, 4:2:2, YCbCr by an Adobe segment (transform 1)', adobe(save(picture(40, 24, 'RGB'), quality=90, subsampling=1), 1)),
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
