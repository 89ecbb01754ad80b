"""An independent computation of rank-classification scores (plain transformers, no engine code)."""

from __future__ import annotations


def reference_scores(model, tok, question: str, options: list[str]) -> list[tuple[float, float]]:
    """(sum, mean) of option-token log-probs: one plain forward pass per option, no cache, no padding."""
    import torch

    user = question + "\n\nOPTIONS:\n" + "\n".join(f"- {o}" for o in options)
    text = tok.apply_chat_template([{"role": "user", "content": user}], add_generation_prompt=True, tokenize=False)
    prompt = tok(text, add_special_tokens=False).input_ids
    scores = []
    for option in options:
        cont = tok(option, add_special_tokens=False).input_ids
        ids = torch.tensor([prompt + cont])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
        picked = logp[len(prompt) - 1 : len(prompt) - 1 + len(cont)].gather(1, torch.tensor(cont)[:, None])[:, 0]
        scores.append((float(picked.sum()), float(picked.mean())))
    return scores
