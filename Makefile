# Entry points: `make demo` (train + evaluate on the built-in synthetic set), `make test`, `make docs`.
# Each creates .venv with Python 3.11 and installs the pinned requirements on first use.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= runs/demo
DEMO_MODEL := simple_pose_resnet18_v1b
DEMO_EPOCHS ?= 11
ROI_JPEG := simplepose/data/libroijpeg.so

.PHONY: demo test docs clean

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-onnxruntime.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-onnxruntime.txt
	touch $@

# Region-of-interest JPEG decoding (simplepose/data/roi_jpeg.c, loaded with ctypes): needs a C compiler
# and libjpeg-turbo's headers (Debian/Ubuntu: libjpeg-dev; macOS: brew install jpeg-turbo). Without it
# the loader decodes whole images: the same pixels, slower.
$(ROI_JPEG): simplepose/data/roi_jpeg.c
	$(CC) -O2 -Wall -shared -fPIC $(CPPFLAGS) $(LDFLAGS) -o $@ $< -ljpeg

# A 10-minute CPU budget: ResNet-18 at 128x96 from scratch. The synthetic figures are colour-coded
# left (warm) / right (cool), so a flip that swaps labels would contradict the colours: no flip here,
# and GluonCV's class-default jitter (scale 0.25, rotation 30) rather than its script's (0.30, 40).
# --overwrite: a second `make demo` moves the first one's run into $(DEMO_DIR)/previous-DATE-TIME/.
demo: $(VENV)/.installed $(ROI_JPEG)
	$(PY) train_simple_pose.py --dataset synthetic --model $(DEMO_MODEL) --input-size 128,96 \
		--batch-size 32 --num-data-workers 1 --num-epochs $(DEMO_EPOCHS) --lr-decay-epoch 9 \
		--flip-prob 0 --scale-factor 0.25 --rotation-factor 30 \
		--val-interval 5 --save-frequency 0 --log-interval 10 --save-dir $(DEMO_DIR) --overwrite
	$(PY) eval_simple_pose.py --params $(DEMO_DIR)/$(DEMO_MODEL)-epoch$$(printf %04d $(DEMO_EPOCHS)).json \
		--metrics-json $(DEMO_DIR)/eval.json --results-json $(DEMO_DIR)/val_results.json
	$(PY) -m simplepose.export --params $(DEMO_DIR)/$(DEMO_MODEL)-epoch$$(printf %04d $(DEMO_EPOCHS)).json \
		--out $(DEMO_DIR)/export
	$(PY) -m simplepose.predict --model $(DEMO_DIR)/export --image data/synthetic/val/$$(ls data/synthetic/val | head -1) \
		--boxes data/synthetic/annotations/person_keypoints_val.json \
		--out $(DEMO_DIR)/predict.png --json $(DEMO_DIR)/predict.json

test: $(VENV)/.installed $(ROI_JPEG)
	$(PY) -m pytest -q tests

# The Sphinx-Gallery tutorials are executed while building (about 2 minutes on 2 CPU cores).
docs: $(VENV)/.installed $(ROI_JPEG)
	$(PY) -m sphinx -b html -W --keep-going docs docs/_build/html
	@echo "open docs/_build/html/index.html"

clean:
	rm -rf $(VENV) runs data docs/_build docs/auto_tutorials docs/api/generated docs/sg_execution_times.rst $(ROI_JPEG)
