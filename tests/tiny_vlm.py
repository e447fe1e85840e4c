"""A tiny, randomly initialised LLaVA-style VLM built offline, for tests of the local VLM path.

Nothing is downloaded: the tokenizer is a small byte-level BPE trained here with ``tokenizers`` and
wrapped in PreTrainedTokenizerFast with a chat template; the image processor is built from its
class with explicit parameters; the model is a 2-layer Llama text model with a 2-layer CLIP vision
tower (~80 k parameters). It is saved to a folder and loaded back through the same
``AutoProcessor`` / ``AutoModelForImageTextToText.from_pretrained`` code as real weights.
Its output is garbage, which is what exercises the malformed-output path honestly.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
CORPUS = [
    'Describe the person. Reply with ONE JSON object: {"expression": "broad smile", "emotion": "happy", "confidence": 0.9}',
    "angry disgust fear happy neutral sad surprise glasses beard headwear hair clothing holding",
]


def build(folder: Path, *, image_size: int = 28) -> Path:
    """Write a tiny LLaVA model + processor to ``folder`` and return it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(CORPUS * 5, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>", chat_template=CHAT_TEMPLATE)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size},
        do_center_crop=True, image_mean=[0.5] * 3, image_std=[0.5] * 3,
    )
    processor = LlavaProcessor(
        image_processor=image_processor, tokenizer=tok, chat_template=CHAT_TEMPLATE, patch_size=14,
        vision_feature_select_strategy="default", image_token="<image>", num_additional_image_tokens=1,
    )
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL}
    config = LlavaConfig(
        text_config=LlamaConfig(
            vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=4096, bos_token_id=ids["<s>"], eos_token_id=ids["</s>"], pad_token_id=ids["<pad>"],
        ),
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                       image_size=image_size, patch_size=14, projection_dim=32),
        image_token_id=ids["<image>"], vision_feature_layer=-1, vision_feature_select_strategy="default",
    )
    model = LlavaForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["</s>"]
    model.generation_config.pad_token_id = ids["<pad>"]
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
