"""The service a user would write instead of ShopLens: FastAPI + Pillow + ONNX Runtime, no safety at all.

    python bench/naive_service.py BUNDLE_DIR PORT [THREADS]

The load benchmark's peer (bench/serve_load.py): same bundle's model.onnx, same route, no limits, no auth,
no content sniffing, no pixel cap, no metrics, no logs. THREADS: ONNX Runtime's intra-op threads (default: its
own choice), set by the benchmark to what the ShopLens server gets.
"""

import io
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI, File, UploadFile
from PIL import Image

bundle = sys.argv[1]
config = json.loads(Path(bundle, "config.json").read_text())
pre, labels = config["preprocess"], config["labels"]
mean, std = np.float32(pre["mean"][0]), np.float32(pre["std"][0])
options = ort.SessionOptions()
options.intra_op_num_threads = int(sys.argv[3]) if len(sys.argv) > 3 else 0
session = ort.InferenceSession(f"{bundle}/model.onnx", options, providers=["CPUExecutionProvider"])
app = FastAPI()


@app.post("/v1/classify")
async def classify(file: UploadFile = File(...)) -> dict:
    img = Image.open(io.BytesIO(await file.read())).convert(pre["mode"]).resize(tuple(pre["size"])[::-1])
    x = np.asarray(img, np.float32)[None, None]
    x = ((255 - x if pre["invert"] else x) / 255 - mean) / std
    logits = session.run(["logits"], {"input": x})[0][0]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    top = np.argsort(-p)[:3]
    return {"results": [{"top": [{"label": labels[i], "probability": float(p[i])} for i in top]}]}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), access_log=False, log_level="warning")
