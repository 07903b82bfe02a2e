# Run from datasets/scenes/: python3 ../../crates/scene-render/assets-src/gen_assets.py
# Generates datasets/scenes/vase.obj and crate.png (deterministic; kept for reference, not needed at build time).
import math, struct, zlib, random

# --- vase.obj: a lathe (surface of revolution) with normals and texture coordinates, open at the top.
S, P = 24, 16
def prof(t):  # t in [0,1] -> (radius, height)
    y = 1.2 * t
    r = 0.28 + 0.16 * math.sin(math.pi * (0.15 + 1.1 * t)) + 0.05 * math.cos(3.0 * math.pi * t)
    return r, y
def dprof(t, h=1e-4):
    (r0, y0), (r1, y1) = prof(t - h), prof(t + h)
    return (r1 - r0) / (2 * h), (y1 - y0) / (2 * h)
V, N, T, F = [], [], [], []
for i in range(P + 1):
    t = i / P
    r, y = prof(t)
    dr, dy = dprof(t)
    nr, ny = dy, -dr
    l = math.hypot(nr, ny); nr, ny = nr / l, ny / l
    for j in range(S + 1):
        a = 2 * math.pi * j / S
        V.append((r * math.cos(a), y, -r * math.sin(a)))
        N.append((nr * math.cos(a), ny, -nr * math.sin(a)))
        T.append((j / S, t))
def idx(i, j): return i * (S + 1) + j
def cross(a, b): return (a[1]*b[2]-a[2]*b[1], a[2]*b[0]-a[0]*b[2], a[0]*b[1]-a[1]*b[0])
def sub(a, b): return tuple(x - y for x, y in zip(a, b))
def tri(a, b, c):
    g = cross(sub(V[b], V[a]), sub(V[c], V[a]))
    n = [N[a][k] + N[b][k] + N[c][k] for k in range(3)]
    if sum(g[k] * n[k] for k in range(3)) < 0: b, c = c, b
    F.append((a, b, c))
for i in range(P):
    for j in range(S):
        tri(idx(i, j), idx(i + 1, j), idx(i + 1, j + 1))
        tri(idx(i, j), idx(i + 1, j + 1), idx(i, j + 1))
# bottom cap (normal -y)
r0, _ = prof(0.0)
c = len(V); V.append((0.0, 0.0, 0.0)); N.append((0.0, -1.0, 0.0)); T.append((0.5, 0.5))
first = len(V)
for j in range(S + 1):
    a = 2 * math.pi * j / S
    V.append((r0 * math.cos(a), 0.0, -r0 * math.sin(a))); N.append((0.0, -1.0, 0.0)); T.append((0.5 + 0.5 * math.cos(a), 0.5 + 0.5 * math.sin(a)))
for j in range(S):
    tri(c, first + j, first + j + 1)
with open("vase.obj", "w") as f:
    f.write("# imanifold vase: lathe surface, %d triangles, open top (generated, deterministic)\no vase\n" % len(F))
    for v in V: f.write("v %.5f %.5f %.5f\n" % v)
    for t in T: f.write("vt %.5f %.5f\n" % (t[0], 1.0 - t[1]))
    for n in N: f.write("vn %.5f %.5f %.5f\n" % n)
    for a, b, cc in F: f.write("f %d/%d/%d %d/%d/%d %d/%d/%d\n" % (a+1, a+1, a+1, b+1, b+1, b+1, cc+1, cc+1, cc+1))

# --- crate.png: 128x128 wooden crate face: frame, diagonal brace, planks, grain.
W = 128
rnd = random.Random(5)
grain = [rnd.random() for _ in range(W)]
rows = []
for y in range(W):
    row = bytearray([0])
    for x in range(W):
        plank = (y // 32) % 2
        g = 0.85 + 0.15 * math.sin(x * 0.35 + 3 * grain[y]) * (0.6 + 0.4 * grain[(x * 7 + y) % W])
        base = (0.72, 0.50, 0.28) if plank == 0 else (0.66, 0.45, 0.24)
        col = [c * g for c in base]
        if y % 32 in (0, 31):
            col = [c * 0.55 for c in col]
        frame = x < 14 or x >= W - 14 or y < 14 or y >= W - 14
        brace = abs(x - y) < 10
        if frame or brace:
            col = [0.50 * g, 0.32 * g, 0.16 * g]
            if frame and (x in (13, W - 14) or y in (13, W - 14)):
                col = [c * 0.5 for c in col]
        if frame and ((x - 7) ** 2 + (y - 7) ** 2 < 9 or (x - W + 8) ** 2 + (y - 7) ** 2 < 9 or (x - 7) ** 2 + (y - W + 8) ** 2 < 9 or (x - W + 8) ** 2 + (y - W + 8) ** 2 < 9):
            col = [0.2, 0.2, 0.22]
        row += bytes(max(0, min(255, int(round(c * 255)))) for c in col)
    rows.append(bytes(row))
raw = b"".join(rows)
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, W, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
open("crate.png", "wb").write(png)
print(len(V), "vertices", len(F), "triangles")
