"""Threads (issue 7): several interpreters with the delegate running at once in one process, and
``num_threads`` 1..8 giving identical outputs.

Each thread here loads its own delegate, as an app with one interpreter per worker thread would (one
shared delegate serves several interpreters too: docs/RELIABILITY.md).
"""

import threading

import numpy as np
import pytest

from onexn_tf.runtime.delegate import load_delegate, read_report

from test_delegate import AVAILABLE_KERNELS, _mixed_model
from test_delegate_models import assert_close, conv_model, fc_model, interpreter_class, random_inputs, run

THREADS = 4
ROUNDS = 12


def _models():
    return {
        "mixed": (_mixed_model(), 3),
        "conv_3x3_n8": (conv_model(k=(3, 3), n=8, cin=32, cout=64, size=(16, 16)), 1),
        "fc_n4": (fc_model(input_shape=(6, 96), n=4, cout=40, activation="relu"), 1),
    }


def _worker(tflite, claimed, inputs, wants, options, errors, barrier):
    try:
        delegate = load_delegate(**{"dense": "never", **options})
        it = interpreter_class("litert")(model_content=tflite, experimental_delegates=[delegate])
        it.allocate_tensors()
        if read_report(delegate)["claimed"] != claimed:
            raise AssertionError(f"claimed {read_report(delegate)['claimed']} != {claimed}")
        barrier.wait()  # every interpreter exists before any invokes: they really run together
        index = it.get_input_details()[0]["index"]
        out = it.get_output_details()[0]["index"]
        for r in range(ROUNDS):
            k = r % len(inputs)
            it.set_tensor(index, inputs[k])
            it.invoke()
            assert_close([it.get_tensor(out)], [wants[k]])
    except BaseException as e:  # noqa: BLE001 - reported to the main thread
        errors.append(repr(e))
        barrier.abort()


@pytest.mark.parametrize("delegate_threads", [1, 2])
def test_concurrent_interpreters_give_correct_results(delegate_threads):
    models = list(_models().values())
    jobs = []
    for t in range(THREADS):
        tflite, claimed = models[t % len(models)]
        rng = np.random.default_rng(t)
        shape = interpreter_class("litert")(model_content=tflite).get_input_details()[0]["shape"]
        inputs = [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]
        wants = [run(tflite, [x])[0] for x in inputs]
        jobs.append((tflite, claimed, inputs, wants))
    errors, barrier = [], threading.Barrier(THREADS)
    threads = [threading.Thread(target=_worker, args=job + ({"num_threads": delegate_threads}, errors, barrier))
               for job in jobs]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not any(th.is_alive() for th in threads), "a thread hung"
    assert errors == []


def test_interpreters_created_and_destroyed_in_parallel():
    # Delegate creation, graph preparation and destruction race with each other across threads.
    tflite = conv_model(k=(3, 3), n=4, cin=16, cout=32)
    inputs = random_inputs(tflite)
    want = run(tflite, inputs)
    errors = []

    def cycle(seed):
        try:
            for i in range(25):
                delegate = load_delegate(dense="never", num_threads=1 + (seed + i) % 3)
                got = run(tflite, inputs, [delegate])
                assert read_report(delegate)["claimed"] == 1
                assert_close(got, want)
                del delegate
        except BaseException as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=cycle, args=(s,)) for s in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert errors == []


@pytest.mark.parametrize("kernel", AVAILABLE_KERNELS)
def test_num_threads_1_to_8_give_identical_outputs(kernel):
    # Every output is computed by one kernel call in a fixed order (kernels/README.md), so the thread
    # count must not change a single bit. Shapes with several pixel tiles and panel chunks per thread.
    for tflite in (conv_model(k=(3, 3), n=8, cin=24, cout=64, size=(17, 15)),
                   conv_model(k=(1, 1), n=2, cin=40, cout=20, size=(23, 9)),
                   fc_model(input_shape=(37, 64), n=16, cout=48)):
        inputs = random_inputs(tflite)
        outputs = []
        for threads in range(1, 9):
            delegate = load_delegate(dense="never", kernel=kernel, num_threads=threads)
            outputs.append(run(tflite, inputs, [delegate])[0])
            report = read_report(delegate)
            assert report["claimed"] == 1 and report["num_threads"] == threads
        for threads, out in enumerate(outputs[1:], start=2):
            np.testing.assert_array_equal(out, outputs[0], err_msg=f"num_threads={threads}")
        assert_close([outputs[0]], run(tflite, inputs))
