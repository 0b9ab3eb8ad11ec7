# Entry points: `make demo` (train + evaluate on the built-in synthetic set), `make test`, `make docs`.
# Each creates .venv with Python 3.11 (`make PYTHON=/path/to/python3.11 ...` for another interpreter) and
# installs this package into it, editable, on first use: the pins are in pyproject.toml.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= runs/demo
DEMO_MODEL := simple_pose_resnet18_v1b
DEMO_EPOCHS ?= 11
EXTRAS := cpu,onnx,test,docs

.PHONY: demo test docs clean

# The editable install also builds the region-of-interest JPEG decoder (simplepose/data/roi_jpeg.c ->
# simplepose/data/libroijpeg.so, see setup.py) when a C compiler and libjpeg-turbo's headers exist
# (Debian/Ubuntu: libjpeg-dev; macOS: brew install jpeg-turbo); without them the loader decodes whole
# images: the same pixels, slower. ONNX Runtime goes in with --no-deps (see requirements-onnxruntime.txt).
$(VENV)/.installed: pyproject.toml setup.py simplepose/data/roi_jpeg.c requirements-onnxruntime.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	$(PY) -m pip install --quiet --no-deps -r requirements-onnxruntime.txt
	@$(PY) -c "from simplepose.data.decode import REGION_DECODING as ok; ok or print('warning: the region-of-interest \
	JPEG decoder was not built (no C compiler or no libjpeg headers): JPEGs are decoded whole, the same pixels, slower')"
	touch $@

# A 10-minute CPU budget: ResNet-18 at 128x96 from scratch. The synthetic figures are colour-coded
# left (warm) / right (cool), so a flip that swaps labels would contradict the colours: no flip here,
# and GluonCV's class-default jitter (scale 0.25, rotation 30) rather than its script's (0.30, 40).
# --overwrite: a second `make demo` moves the first one's run into $(DEMO_DIR)/previous-DATE-TIME/.
# Last, the export runs on a generated 2-second video of three walking figures (their boxes given), tracked;
# then what the demo wrote, and three commands to try next.
demo: $(VENV)/.installed
	$(PY) train_simple_pose.py --dataset synthetic --model $(DEMO_MODEL) --input-size 128,96 \
		--batch-size 32 --num-data-workers 1 --num-epochs $(DEMO_EPOCHS) --lr-decay-epoch 9 \
		--flip-prob 0 --scale-factor 0.25 --rotation-factor 30 \
		--val-interval 5 --save-frequency 0 --log-interval 10 --save-dir $(DEMO_DIR) --overwrite
	$(PY) eval_simple_pose.py --params $(DEMO_DIR)/$(DEMO_MODEL)-epoch$$(printf %04d $(DEMO_EPOCHS)).json \
		--metrics-json $(DEMO_DIR)/eval.json --results-json $(DEMO_DIR)/val_results.json
	$(PY) -m simplepose.export --params $(DEMO_DIR)/$(DEMO_MODEL)-epoch$$(printf %04d $(DEMO_EPOCHS)).json \
		--out $(DEMO_DIR)/export --int8
	$(PY) -m simplepose.predict --model $(DEMO_DIR)/export --input data/synthetic/val/$$(ls data/synthetic/val | head -1) \
		--boxes data/synthetic/annotations/person_keypoints_val.json --out $(DEMO_DIR)/predict
	$(PY) -m simplepose.synthetic --video $(DEMO_DIR)/video/walk.mp4 --frames 48 --seed 1
	$(PY) -m simplepose.predict --model $(DEMO_DIR)/export --input $(DEMO_DIR)/video/walk.mp4 \
		--boxes $(DEMO_DIR)/video/walk.boxes.json --out $(DEMO_DIR)/predict-video --track
	@stem=$$(ls data/synthetic/val | head -1) && d=$(DEMO_DIR) && row() { printf '  %-40s %s\n' "$$1" "$$2"; } && \
	echo && echo "make demo wrote $$d ($$(du -sh $$d | cut -f1)):" && \
	row "$$d/" "train.log, metrics.jsonl, checkpoints, best.json, TensorBoard events" && \
	row "$$d/plots/training_curves.png" "loss, accuracy and AP per epoch" && \
	row "$$d/eval.json" "COCO keypoint AP of the final model (val_results.json: its keypoints)" && \
	row "$$d/export/" "MXNet symbol and params, ONNX (FP32 and INT8), deploy.json" && \
	row "$$d/predict/$${stem%.*}.png" "a validation image with its skeletons (.json: the keypoints)" && \
	row "$$d/predict-video/walk.mp4" "a generated video, its people tracked (.jsonl: one line a frame)" && \
	echo "Next, after . $(VENV)/bin/activate:" && \
	next() { printf '  %-64s # %s\n' "$$1" "$$2"; } && \
	next "tensorboard --logdir $$d" "the curves and pictures, in a browser" && \
	next "simplepose-eval --params $$d --analysis $$d/analysis" "precision-recall curves, worst people" && \
	next "simplepose-predict --model simple_pose_resnet50_v1b --detector yolo3_mobilenet1.0_coco --input photo.jpg" \
	    "real people (online)"

test: $(VENV)/.installed
	$(PY) -m pytest -q tests

# The Sphinx-Gallery tutorials are executed while building (about 2 minutes on 2 CPU cores).
docs: $(VENV)/.installed
	$(PY) -m sphinx -b html -W --keep-going docs docs/_build/html
	@echo "open docs/_build/html/index.html"

clean:
	rm -rf $(VENV) runs data docs/_build docs/auto_tutorials docs/api/generated docs/sg_execution_times.rst \
		build simplepose.egg-info simplepose/data/libroijpeg.so
